"""The one atomic file write and the one file hash every layer uses.

A file Candor writes (a video, a key, a checkpoint, a corpus shard, a report) appears complete or
not at all: it is written to a temporary name beside its destination, flushed to disk, given its
mode and renamed over the destination in one ``os.replace``; the directory entry is flushed too,
so a crash right after the rename cannot lose it. On any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CHUNK = 1 << 20  # hash and copy in 1 MiB reads


def temp_path_beside(path: str | Path) -> Path:
    """A fresh hidden name in ``path``'s folder that keeps its suffix (``.out.mp4.3f9a1c0e.mp4``),
    so writers that pick a format from the extension (PyAV, OpenCV, numpy) still do."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{path.suffix}")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: str | Path, path: str | Path, *, mode: int = 0o644) -> None:
    """Flush ``tmp`` to disk, give it ``mode`` and rename it over ``path`` (same folder)."""
    tmp, path = Path(tmp), Path(path)
    _fsync_path(tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    # The rename itself; some filesystems refuse to open a directory for fsync (the data is safe).
    with contextlib.suppress(OSError):
        _fsync_path(path.parent)


@contextmanager
def atomic_output(path: str | Path, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the caller (or a library) to write; when the block
    ends normally it is published as ``path`` with ``mode``, when it raises it is removed.

    ``mode``: 0o644 for what others may read (videos, reports), 0o600 for secrets.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    try:
        yield tmp
        publish(tmp, path, mode=mode)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, mode=mode) as tmp:
        # O_EXCL: the random name is ours alone; created with the final mode so a secret is never
        # readable by others, not even between create and chmod.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: str | Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
