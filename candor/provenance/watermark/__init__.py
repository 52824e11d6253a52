"""Candor's invisible video watermark: keyed spread spectrum in luma block-DCT, decoded per clip.

Public API (other areas code against these names):

- :data:`WATERMARK_ALG`, :data:`PAYLOAD_SERIAL_BITS`, :func:`binding_value` - the C2PA soft binding.
- :class:`WatermarkKey` - the service's secret (``from_secret`` / ``from_bytes``).
- :class:`WatermarkEmbedder` - ``embed(frame)`` for frames as they are generated.
- :func:`embed_video` - re-encode an existing MP4 with the mark (audio copied).
- :func:`detect_frames`, :func:`detect_video` -> :class:`WatermarkDetection`.

How it works: ``pattern`` (the keyed tile and the embedder), ``payload`` (serial + keyed check,
BCH(127, 50), whitening, the false-positive bound), ``detect`` (clip averaging, scale and crop
search, decoding), ``video`` (PyAV I/O).
"""

from __future__ import annotations

from candor.provenance.watermark.detect import WatermarkDetection, detect_frames
from candor.provenance.watermark.key import WatermarkKey
from candor.provenance.watermark.pattern import WatermarkEmbedder
from candor.provenance.watermark.payload import SERIAL_BITS, check_serial
from candor.provenance.watermark.video import detect_video, embed_video

WATERMARK_ALG = "com.candor.watermark.ss1"  # soft-binding algorithm id (C2PA soft-binding `alg`)
PAYLOAD_SERIAL_BITS = SERIAL_BITS  # 32 bits of serial; 50 with the keyed check, 127 coded


def binding_value(serial: int) -> str:
    """The C2PA soft-binding value for a serial: 8 lowercase hex digits (stable, fixed width)."""
    return f"{check_serial(serial):08x}"


__all__ = [
    "PAYLOAD_SERIAL_BITS",
    "WATERMARK_ALG",
    "WatermarkDetection",
    "WatermarkEmbedder",
    "WatermarkKey",
    "binding_value",
    "detect_frames",
    "detect_video",
    "embed_video",
]
