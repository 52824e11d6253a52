"""Streaming MP4 I/O with PyAV: H.264 yuv420p video, AAC audio muxed from a file.

The writer never holds more than one frame: memory is flat in the video's length. Output is
written to a temporary file beside the destination and published on success (``candor.files``),
so a failed render never leaves a half-written MP4 behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from candor.errors import InvalidAudio, InvalidInput, InvalidVideo
from candor.files import publish, temp_path_beside
from candor.generator.controls import DEFAULT_FPS, check_fps


class VideoWriter:
    """``with VideoWriter(path, fps=25, audio_path=a.wav) as w: w.write(frame)``.

    Frames are (H, W, 3) uint8 RGB with even H and W. ``crf``: x264 quality (lower is better).
    The audio (any format PyAV reads) is encoded to AAC as the frames come, a second at a time up
    to the video's time (interleaved with it, and no audio work left for the close), and trimmed
    to the video's duration.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: int = DEFAULT_FPS,
        audio_path: str | Path | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        size: tuple[int, int] = (512, 512),
        audio_rate: int | None = None,
        threads: int = 0,
    ) -> None:
        """``audio_rate``: the sample rate (Hz) of mono audio at ``audio_path`` that is still being
        written while frames stream in (a live recording); it is read when the writer closes."""
        check_fps(fps)
        self.audio_rate = audio_rate
        if audio_path is not None and audio_rate is None and not Path(audio_path).is_file():
            raise InvalidAudio(f"audio file not found: {audio_path}")
        self.path = Path(path)
        self.fps = fps
        self.audio_path = Path(audio_path) if audio_path else None
        self.crf = crf
        self.preset = preset
        self.size = size
        self.threads = threads
        self.frames_written = 0
        self._container = None
        self._tmp: Path | None = None
        self._track: _AudioTrack | None = None

    def __enter__(self) -> VideoWriter:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_path_beside(self.path)
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads:
            stream.codec_context.thread_count = self.threads
        stream.codec_context.time_base = Fraction(1, self.fps)
        self._video = stream
        self._audio = self._add_audio_stream() if self.audio_path is not None else None
        # A live recording's audio is still being written: it is muxed whole when the writer closes.
        if self._audio is not None and self.audio_rate is None:
            self._track = _AudioTrack(self._container, self._audio, self.audio_path)
        return self

    def _add_audio_stream(self):
        """The AAC stream must exist before the first packet is muxed (the header is written then)."""
        import av

        if self.audio_rate is not None:  # mono audio that will exist when the writer closes
            out = self._container.add_stream("aac", rate=self.audio_rate)
            out.layout = "mono"
            return out
        try:
            with av.open(str(self.audio_path)) as source:
                if not source.streams.audio:
                    raise InvalidAudio(f"{self.audio_path.name} has no audio stream")
                ctx = source.streams.audio[0].codec_context
                rate, channels = ctx.sample_rate or 48000, ctx.channels or 1
        except av.FFmpegError as exc:
            self._abort()
            raise InvalidAudio(f"cannot read audio {self.audio_path.name}: {exc}") from None
        except InvalidAudio:
            self._abort()
            raise
        rate = rate if rate in (16000, 22050, 24000, 32000, 44100, 48000) else 48000
        out = self._container.add_stream("aac", rate=rate)
        out.layout = "mono" if channels == 1 else "stereo"
        return out

    def _abort(self) -> None:
        self._container.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def check_frame(self, frame: np.ndarray) -> None:
        """InvalidInput unless ``frame`` is an (H, W, 3) uint8 array of this writer's size."""
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise InvalidInput(f"frame must be {self.size[1]}x{self.size[0]}x3 uint8, got {frame.shape} {frame.dtype}")

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        import av

        self.check_frame(frame)
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = self.frames_written
        for packet in self._video.encode(vf):
            self._container.mux(packet)
        self.frames_written += 1
        if self._track is not None and self.frames_written % self.fps == 0:
            self._track.encode_until(self.frames_written / self.fps)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                for packet in self._video.encode(None):
                    self._container.mux(packet)
                if self.frames_written == 0:
                    raise InvalidInput("no frames were written")
                if self._audio is not None:
                    if self._track is None:  # a live recording's audio, complete now
                        self._track = _AudioTrack(self._container, self._audio, self.audio_path)
                    self._track.finish(self.frames_written / self.fps)
            self._container.close()
            if exc_type is None:
                publish(self._tmp, self.path)
        finally:
            if self._track is not None:
                self._track.close()
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)


class _AudioTrack:
    """A source audio file encoded into an open writer's AAC stream, up to a given time at a call."""

    def __init__(self, container, out, path: Path) -> None:
        import av

        self._container, self._out, self._name = container, out, path.name
        self._rate = out.codec_context.sample_rate
        self._source = av.open(str(path))
        self._frames = self._source.decode(self._source.streams.audio[0])
        self._resampler = av.AudioResampler(format="fltp", layout=out.layout, rate=self._rate)
        self._pending: list = []  # resampled frames not yet encoded (they reach past the last limit)
        self._written = 0  # samples encoded
        self._exhausted = False

    def encode_until(self, seconds: float) -> None:
        """Encode the source's samples up to ``seconds`` (the rest of a frame that reaches past it waits)."""
        import av

        limit = round(seconds * self._rate)
        while self._written < limit:
            if not self._pending:
                if self._exhausted:
                    return
                try:
                    self._pending = list(self._resampler.resample(next(self._frames)))
                except StopIteration:
                    self._exhausted = True
                    self._pending = list(self._resampler.resample(None))
                except av.FFmpegError as exc:
                    raise InvalidAudio(f"cannot decode audio {self._name}: {exc}") from None
                continue
            frame = self._pending.pop(0)
            take = min(frame.samples, limit - self._written)
            if take < frame.samples:  # split: the head now, the tail at the next call
                arr = frame.to_ndarray()
                self._pending.insert(0, self._frame(arr[:, take:]))
                frame = self._frame(arr[:, :take])
            frame.pts = self._written
            self._written += take
            for packet in self._out.encode(frame):
                self._container.mux(packet)

    def finish(self, seconds: float) -> None:
        """Encode up to ``seconds`` (the video's duration: the audio is trimmed to it) and flush."""
        self.encode_until(seconds)
        for packet in self._out.encode(None):
            self._container.mux(packet)

    def close(self) -> None:
        self._source.close()

    def _frame(self, samples: np.ndarray):
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self._out.layout)
        frame.sample_rate = self._rate
        return frame


@dataclass
class VideoInfo:
    """What :func:`probe` reads back from a file."""

    frames: int
    fps: float
    width: int
    height: int
    duration: float
    audio_duration: float | None
    audio_rate: int | None
    codec: str


@contextmanager
def open_video(path: str | Path) -> Iterator[tuple[Any, Any]]:
    """``with open_video(p) as (container, stream)``: the file's first video stream, or InvalidVideo
    for a missing, unreadable or video-less file."""
    import av

    name = Path(path).name
    try:
        container = av.open(str(path))
    except (av.FFmpegError, FileNotFoundError, IsADirectoryError) as exc:
        raise InvalidVideo(f"cannot read video {name}: {exc}") from None
    with container:
        if not container.streams.video:
            raise InvalidVideo(f"{name} has no video stream")
        yield container, container.streams.video[0]


def probe(path: str | Path) -> VideoInfo:
    """Frame count (decoded), fps, size and the audio stream's duration of a video file."""
    with open_video(path) as (container, vs):
        frames = sum(1 for _ in container.decode(vs))
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        audio_duration = audio_rate = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio_rate = a.codec_context.sample_rate
            if a.duration is not None:
                audio_duration = float(a.duration * a.time_base)
        return VideoInfo(
            frames, fps, vs.codec_context.width, vs.codec_context.height, frames / fps if fps else 0.0,
            audio_duration, audio_rate, vs.codec_context.name,
        )  # fmt: skip


def read_frames(path: str | Path, *, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames of a video (or an animated image) one at a time."""
    import av

    with open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        n = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
                n += 1
                if max_frames is not None and n >= max_frames:
                    return
        except av.FFmpegError as exc:
            raise InvalidVideo(f"{Path(path).name} is corrupt after frame {n}: {exc}") from None
        if n == 0:
            raise InvalidVideo(f"{Path(path).name} has no decodable frames")


def video_fps(path: str | Path) -> float:
    """The video stream's frame rate (25 when the container does not say)."""
    with open_video(path) as (_container, vs):
        return float(vs.average_rate or vs.guessed_rate or 25)
