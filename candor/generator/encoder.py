"""The H.264 encoder in a process of its own: :class:`EncoderProcess` is a :class:`VideoWriter`
whose encoding runs in a child Python, fed raw frames through shared memory.

Why a process: PyAV holds the GIL for the whole of ``encode()`` (the RGB -> YUV conversion, x264's
own work on the calling thread, and the wait for a free x264 frame thread). Measured on the 2-core
machine: 400 frames encoded on one thread beside a pure-Python loop on another took the sum of the
two alone (1.51 s against 1.10 + 0.49), so a renderer running beside an in-process encoder stood
still whenever x264 was busy. The child's GIL is its own.

Why shared memory: frames used to go down the child's stdin. Profiled in the running release path
(``perf``, 60 s clip), the kernel's pipe copies, page faults and the pipe's lock cost the child
1.6 ms of CPU a frame and the parent 0.4 ms, a tenth of the whole path's CPU. Now the frames lie in
a ring of ``SLOTS`` frame buffers in an anonymous shared file (``memfd``; no name, so nothing is
left behind whoever dies); only slot numbers travel over pipes.

Protocol. Child's stdin: one JSON line with the writer's arguments and the ring's layout, then
``F`` + one byte (the slot holding the next frame, H x W x 3 uint8 RGB) per frame, then ``E``.
Child -> parent, on a pipe of its own: one byte per slot the child has taken its frame from (free
again). Only after ``E`` does the child finish and publish the file; end of input without it (the
parent died or gave up) removes everything the child wrote. The child answers one JSON line on
stdout: the frames written, or the error.
"""

from __future__ import annotations

import contextlib
import glob
import json
import mmap
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from candor import errors
from candor.generator.video import VideoWriter

_FRAME, _END = b"F", b"E"
# glibc's malloc hands each frame-sized buffer (PyAV's RGB and YUV frames, ~1 MB) back to the kernel
# when it is freed and faults fresh zeroed pages in for the next one: ~0.5 ms of the child's CPU a
# frame in page faults. Kept in the heap instead (the child holds a few frames at most).
_CHILD_MALLOC = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"}
SLOTS = 4  # frames in flight between the caller and x264: enough to absorb a slow frame on either side


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
        self._slots: list[np.ndarray] = []
        self._idle: list[int] = []
        self._freed: int | None = None  # read end of the child's "slot free" pipe

    def __enter__(self) -> EncoderProcess:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        width, height = self._spec.size
        ring_fd = _anonymous_shared_file(width * height * 3 * SLOTS)
        freed, freed_child = os.pipe()
        try:
            slots = _ring_slots(ring_fd, width, height, SLOTS)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "candor.generator.encoder"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                pass_fds=(ring_fd, freed_child), env={**os.environ, **_CHILD_MALLOC},
            )  # fmt: skip
        except BaseException:
            os.close(freed)
            raise
        finally:
            os.close(ring_fd)  # the mapping (and the child's copy of the descriptor) keep the file
            os.close(freed_child)
        self._freed = freed
        self._slots = slots
        self._idle = list(range(SLOTS))
        ring_spec = {"ring_fd": ring_fd, "slots": SLOTS, "freed_fd": freed_child}
        try:
            self._send(json.dumps({**self._args, "_ring": ring_spec}).encode() + b"\n")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Hand one (H, W, 3) uint8 RGB frame to the encoder (copied: ``frame`` may be reused)."""
        self._spec.check_frame(frame)
        slot = self._free_slot()
        np.copyto(self._slots[slot], frame)
        self._send(_FRAME, bytes((slot,)))
        self.frames_written += 1

    def _free_slot(self) -> int:
        """A slot the child is done with; waits for one while all are in flight."""
        if not self._idle:
            try:
                freed = os.read(self._freed, SLOTS)
            except OSError:
                freed = b""
            if not freed:  # the child stopped: its answer says why
                self._fail()
            self._idle.extend(freed)
        return self._idle.pop()

    def _send(self, *parts: bytes | memoryview) -> None:
        try:
            for part in parts:
                self._proc.stdin.write(part)
            self._proc.stdin.flush()
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
        try:
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
        finally:
            self._slots, self._idle = [], []  # the last views of the ring go: it is unmapped
            if self._freed is not None:
                os.close(self._freed)
                self._freed = None


def _ring_slots(fd: int, width: int, height: int, slots: int) -> list[np.ndarray]:
    """The ring file ``fd`` mapped (shared) as ``slots`` frames of (height, width, 3) uint8."""
    frame_bytes = width * height * 3
    ring = mmap.mmap(fd, frame_bytes * slots)
    return [np.frombuffer(ring, np.uint8, frame_bytes, i * frame_bytes).reshape(height, width, 3) for i in range(slots)]


def _anonymous_shared_file(size: int) -> int:
    """A descriptor of a ``size``-byte file in memory with no name (gone when its last user is)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("candor-frames", os.MFD_CLOEXEC)
    else:  # no memfd (not Linux): an unlinked temporary file serves the same way
        with tempfile.TemporaryFile() as file:
            fd = os.dup(file.fileno())
    os.ftruncate(fd, size)
    return fd


def _serve() -> int:
    """The child: read the writer's arguments and the ring's layout, then slot numbers, from stdin;
    encode each slot's frame and give the slot back; answer on stdout."""
    stdin = sys.stdin.buffer
    args = json.loads(stdin.readline())
    ring_spec = args.pop("_ring")
    writer = VideoWriter(args.pop("path"), **{k: tuple(v) if k == "size" else v for k, v in args.items()})
    slots = _ring_slots(ring_spec["ring_fd"], *writer.size, ring_spec["slots"])
    os.close(ring_spec["ring_fd"])
    freed = ring_spec["freed_fd"]
    try:
        with writer:
            while True:
                tag = stdin.read(1)
                if tag == _END:
                    break
                slot = stdin.read(1)
                if tag != _FRAME or len(slot) != 1 or slot[0] >= len(slots):
                    raise _Abandoned
                writer.write(slots[slot[0]])  # PyAV copies the frame: the slot is free again
                os.write(freed, slot)
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
    # The answer is out and the file published (or removed): no interpreter teardown for the
    # caller to wait through (PyAV, numpy, every module).
    code = _serve()
    sys.stdout.flush()
    os._exit(code)
