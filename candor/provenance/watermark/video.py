"""MP4 in, MP4 out: embed the watermark while re-encoding, and detect it in a file (PyAV)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from candor.errors import InvalidVideo
from candor.files import atomic_output
from candor.provenance.watermark.detect import LumaAccumulator, WatermarkDetection, decode_mean_luma
from candor.provenance.watermark.key import WatermarkKey
from candor.provenance.watermark.pattern import WatermarkEmbedder


def _open(path: str | os.PathLike):  # -> av.container.InputContainer
    import av

    p = Path(path)
    if not p.is_file():
        raise InvalidVideo(f"no such video file: {p}")
    try:
        container = av.open(str(p))
    except av.FFmpegError as exc:
        raise InvalidVideo(f"cannot read video {p.name}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise InvalidVideo(f"{p.name} has no video stream")
    return container


def embed_video(
    src_path: str | os.PathLike,
    dst_path: str | os.PathLike,
    key: WatermarkKey,
    serial: int,
    *,
    crf: int = 18,
) -> None:
    """Re-encode ``src_path`` (any FFmpeg-readable video) as an H.264 MP4 with the mark in every frame.

    The audio stream, if any, is copied untouched; frame timing is kept. ``crf`` is x264's constant
    rate factor (18: visually lossless). The output appears atomically at ``dst_path``.
    """
    import av

    src = _open(src_path)
    try:
        # Exits in reverse: the output is closed, then published, then the source closed.
        with src, atomic_output(dst_path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
            vin = src.streams.video[0]
            width, height = vin.codec_context.width, vin.codec_context.height
            if width % 2 or height % 2:
                raise InvalidVideo(f"video size {width}x{height} must be even for H.264 4:2:0")
            rate = vin.average_rate or vin.guessed_rate or 25
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.time_base = vin.time_base
            vout.options = {"crf": str(crf), "preset": "medium"}
            ain = src.streams.audio[0] if src.streams.audio else None
            aout = out.add_stream_from_template(ain) if ain is not None else None
            embedder = WatermarkEmbedder(key, serial, frame_size=(height, width))
            streams = [vin] + ([ain] if ain is not None else [])
            for packet in src.demux(streams):
                if packet.stream is ain:
                    if packet.dts is None:
                        continue
                    packet.stream = aout
                    out.mux(packet)
                    continue
                for frame in packet.decode():
                    marked = embedder.embed(frame.to_ndarray(format="rgb24"))
                    new = av.VideoFrame.from_ndarray(marked, format="rgb24")
                    new.pts, new.time_base = frame.pts, frame.time_base
                    out.mux(vout.encode(new))
            out.mux(vout.encode(None))
    except av.FFmpegError as exc:
        raise InvalidVideo(f"cannot re-encode {Path(src_path).name}: {exc}") from None


def read_luma(path: str | os.PathLike, *, max_seconds: float | None = 20.0):  # -> Iterator[np.ndarray]
    """Yield each frame's luma plane (H, W) uint8 from the first ``max_seconds`` of the video."""
    import av

    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = None
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else 0.0
                start = t if start is None else start
                if max_seconds is not None and t - start >= max_seconds:
                    break
                yield frame.to_ndarray(format="gray")
        except av.FFmpegError as exc:
            raise InvalidVideo(f"cannot decode {Path(path).name}: {exc}") from None


def detect_video(path: str | os.PathLike, key: WatermarkKey, *, max_seconds: float | None = 20.0) -> WatermarkDetection:
    """Decode the watermark from the first ``max_seconds`` seconds of a video file (None: all)."""
    acc = LumaAccumulator()
    for y in read_luma(path, max_seconds=max_seconds):
        acc.add(y.astype(np.float32))
    if acc.count == 0:
        raise InvalidVideo(f"{Path(path).name} has no decodable video frames")
    return decode_mean_luma(acc.mean(), key, frames_used=acc.count)
