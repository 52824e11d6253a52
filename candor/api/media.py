"""Uploaded media at the HTTP edge: bounded reads, content-type checks, portrait face analysis."""

from __future__ import annotations

from fastapi import UploadFile

from candor.api.errors import UnsupportedMediaType
from candor.errors import PayloadTooLarge
from candor.services import evidence

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff")
AUDIO_TYPES = (
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/flac",
    "audio/x-flac",
    "audio/mpeg",
    "audio/mp3",
    "audio/ogg",
    "audio/webm",
    "audio/mp4",
    "audio/aac",
    "audio/x-m4a",
)
# Consent uploads: the service checks their content against these too (services.evidence).
DOCUMENT_TYPES = evidence.DOCUMENT_TYPES
RECORDING_TYPES = evidence.RECORDING_TYPES
REFERENCE_TYPES = evidence.REFERENCE_TYPES
# Clients that cannot tell (curl guesses only a few extensions) send this; the decoder then decides.
GENERIC_TYPE = "application/octet-stream"
_CHUNK = 1 << 20


def media_type_of(upload: UploadFile, allowed: tuple[str, ...], what: str) -> str:
    """The upload's declared media type (parameters dropped) if acceptable, else UnsupportedMediaType (415)."""
    declared = (upload.content_type or GENERIC_TYPE).split(";", 1)[0].strip().lower()
    if declared in allowed or declared == GENERIC_TYPE:
        return declared
    raise UnsupportedMediaType(f"{what} must be one of {', '.join(allowed)}; got {declared!r}")


async def read_upload(upload: UploadFile, max_bytes: int, what: str) -> bytes:
    """All bytes of ``upload``, refusing with PayloadTooLarge (413) past ``max_bytes``."""
    size = upload.size
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"{what} is {size} bytes; the limit is {max_bytes} bytes")
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"{what} is larger than the {max_bytes}-byte limit")
        parts.append(chunk)
    return b"".join(parts)
