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


def sniff_media_type(head: bytes) -> str | None:
    """The media type a file's first bytes (16 are enough) prove, or None when no known signature
    matches. Uploads are judged by this, not by the type a client declares: a PNG sent as
    ``video/mp4`` or an MP3 sent as ``application/octet-stream`` is what its bytes say."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image/bmp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "application/zip"
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and len(head) >= 12:  # RIFX: big-endian, RF64: > 4 GiB
        return {b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo", b"WEBP": "image/webp"}.get(head[8:12])
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"  # EBML: WebM or Matroska, told apart only by the DocType inside
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync; layer bits 00 is AAC in an ADTS stream, not MP3.
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "video/quicktime"  # QuickTime files from before the ftyp box
    return None
