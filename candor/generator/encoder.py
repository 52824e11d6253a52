"""The H.264 encoder in a process of its own: :class:`EncoderProcess` is a :class:`VideoWriter`
whose encoding runs in a child Python, fed raw frames over a pipe.

Why a process: PyAV holds the GIL for the whole of ``encode()`` (the RGB -> YUV conversion, x264's
own work on the calling thread, and the wait for a free x264 frame thread). Measured on the 2-core
machine: 400 frames encoded on one thread beside a pure-Python loop on another took the sum of the
two alone (1.51 s against 1.10 + 0.49), so a renderer running beside an in-process encoder stood
still whenever x264 was busy. A pipe write releases the GIL; the child's GIL is its own.

Protocol (stdin of the child): one JSON line with the writer's arguments, then ``F`` + one raw
frame (H x W x 3 uint8 RGB) per frame, then ``E``. Only after ``E`` does the child finish and
publish the file; end of input without it (the parent died or gave up) removes everything the
child wrote. The child answers one JSON line on stdout: the frames written, or the error.
"""

from __future__ import annotations

import contextlib
import glob
import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from candor import errors
from candor.generator.video import VideoWriter

_FRAME, _END = b"F", b"E"
_PIPE_BYTES = 1 << 20  # a whole 512x512 frame fits in the pipe: the parent's write rarely waits


class EncoderProcess:
    """``with EncoderProcess(path, fps=25, audio_path=a.wav) as w: w.write(frame)``, as
    :class:`VideoWriter` (same arguments, checks and atomic publication), encoded in a child process.

    An error in the child (bad audio, a full disk) is raised again here, as the same Candor error
    type, by the next ``write`` or by closing; a failed or abandoned encode leaves no file behind.
    """

    def __init__(self, path: str | Path, **writer_args: Any) -> None:
        # The arguments are checked here, by the writer the child will build from them.
        self._spec = VideoWriter(path, **writer_args)
        self._args = {"path": str(path), **{k: str(v) if isinstance(v, Path) else v for k, v in writer_args.items()}}
        self.path = self._spec.path
        self.frames_written = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EncoderProcess:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "candor.generator.encoder"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with contextlib.suppress(OSError, AttributeError):  # a smaller pipe only costs wake-ups
            import fcntl

            fcntl.fcntl(self._proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._send(json.dumps(self._args).encode() + b"\n")
        return self

    def write(self, frame: np.ndarray) -> None:
        """Hand one (H, W, 3) uint8 RGB frame to the encoder."""
        self._spec.check_frame(frame)
        self._send(_FRAME, np.ascontiguousarray(frame).data)
        self.frames_written += 1

    def _send(self, *parts: bytes | memoryview) -> None:
        try:
            for part in parts:
                self._proc.stdin.write(part)
        except (BrokenPipeError, ValueError):  # the child stopped: its answer says why
            self._fail()

    def _answer(self) -> dict[str, Any]:
        out = self._proc.stdout.read()
        code = self._proc.wait()
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": "CandorError", "detail": f"the video encoder process stopped (exit code {code})"}

    def _fail(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        self._raise(self._answer())

    def _raise(self, answer: dict[str, Any]) -> None:
        """The child's error: the input error it named (bad audio, a bad frame), else a CandorError."""
        self._remove_leftovers()
        cls = getattr(errors, answer.get("error", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.InvalidInput)):
            cls = errors.CandorError
        raise cls(answer.get("detail") or "the video encoder failed")

    def _remove_leftovers(self) -> None:
        """A child killed outright cannot remove its own temporary file (named beside ours)."""
        for stray in self.path.parent.glob(f"{glob.escape('.' + self.path.name)}.*{glob.escape(self.path.suffix)}"):
            stray.unlink(missing_ok=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:  # abandon: the child sees its input end without "E" and cleans up
            with contextlib.suppress(OSError, ValueError):
                self._proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._remove_leftovers()
            return
        self._send(_END)
        self._proc.stdin.close()
        answer = self._answer()
        if "frames" not in answer:
            self._raise(answer)


def _read_exactly(stream, view: memoryview) -> bool:
    """Fill ``view`` from ``stream``; False at end of input before it was full."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            return False
        got += n
    return True


def _serve() -> int:
    """The child: read the writer's arguments, then frames, from stdin; encode; answer on stdout."""
    stdin = sys.stdin.buffer
    args = json.loads(stdin.readline())
    writer = VideoWriter(args.pop("path"), **{k: tuple(v) if k == "size" else v for k, v in args.items()})
    width, height = writer.size
    frame = np.empty((height, width, 3), np.uint8)
    view = memoryview(frame).cast("B")
    try:
        with writer:
            while True:
                tag = stdin.read(1)
                if tag == _END:
                    break
                if tag != _FRAME or not _read_exactly(stdin, view):
                    raise _Abandoned
                writer.write(frame)
    except _Abandoned:
        return 2
    except errors.CandorError as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": exc.detail}), flush=True)
        return 1
    except Exception as exc:  # reported to the parent, which raises it as a CandorError
        print(json.dumps({"error": "CandorError", "detail": f"video encoding failed: {exc}"}), flush=True)
        return 1
    print(json.dumps({"frames": writer.frames_written}), flush=True)
    return 0


class _Abandoned(Exception):
    """The parent went away before ``E``: nothing is published."""


if __name__ == "__main__":
    sys.exit(_serve())
