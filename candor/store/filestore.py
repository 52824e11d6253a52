"""The file store: content-addressed files (each named by the SHA-256 of its bytes) behind one
interface, :class:`FileStore`; :class:`LocalFileStore` keeps them in a local directory,
:class:`candor.store.objectstore.S3FileStore` in an S3-compatible bucket shared by many hosts
(:func:`file_store_for` picks one from a storage URL). Work files (uploads being checked, a job's
inputs and output) are always on the local disk; callers read stored files through
:meth:`FileStore.fetch` (a local copy) or :meth:`FileStore.open` (a stream), never by assuming
the store is local.

Local writes stream into a temporary file in the store's own ``tmp/`` directory (same filesystem),
are fsynced, then renamed into ``ab/cd/<sha256>`` (:func:`candor.files.publish`): a reader sees a
complete file or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from candor.errors import InvalidInput, NotFound, PayloadTooLarge, StorageUnavailable
from candor.files import file_sha256, publish

CHUNK = 1 << 20  # 1 MiB streaming chunks
DEFAULT_MAX_BYTES = 200 << 20  # 200 MiB
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


MEDIA_SUFFIXES = {  # file suffix of each accepted upload type (decoders probe by name too)
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/webm": ".webm",
}


def suffix_for(media_type: str | None, default: str = "") -> str:
    """File suffix for a MIME type (parameters and case ignored), ``default`` when unknown."""
    return MEDIA_SUFFIXES.get((media_type or "").split(";")[0].strip().lower(), default)


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class FileStore(Protocol):
    """What the services need of any file store. Digests are 64 lowercase hex characters; a name that
    is not one is refused (InvalidInput) so no caller-supplied name can escape the store."""

    max_bytes: int  # any single write past it is PayloadTooLarge
    tmp_dir: Path  # this host's work area (temp files, job folders)

    def local_path(self, sha256: str) -> Path | None:
        """Where the file lies on this host's disk when the backend keeps files locally (NotFound if
        it is not stored), else None: read it with :meth:`open` or :meth:`fetch`."""

    def fetch(self, sha256: str, target: Path) -> Path:
        """Put a read-only copy of the stored file at the local path ``target`` (a hard link where
        possible; NotFound if it is not stored); returns ``target``."""

    def download_url(self, sha256: str, *, filename: str, media_type: str, expires_s: int) -> str | None:
        """A time-limited URL that downloads the file without the API (an object store's presigned
        URL), or None when the backend has none (the API serves the file itself)."""

    def ping(self) -> None:
        """Raise StorageUnavailable (or OSError) unless the store can be read and written now."""

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def read_bytes(self, sha256: str) -> bytes: ...

    def put_bytes(self, data: bytes, max_bytes: int | None = None) -> StoredFile: ...

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile: ...

    def put_file(self, path: str | Path, *, move: bool = False) -> StoredFile: ...

    def stored(self) -> Iterator[tuple[str, float]]:
        """(sha256, modification time in unix seconds) of every stored file."""

    def modified_at(self, sha256: str) -> float | None:
        """When the file was last stored (unix seconds), or None if it is not stored."""

    def delete(self, sha256: str) -> bool:
        """Remove a stored file; False if it was not there."""

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh local path to write into before :meth:`put_file` ``(move=True)``."""

    def work_dir(self, prefix: str) -> Path:
        """A fresh private local folder for one job's inputs and output (the caller removes it)."""

    def work_dirs(self, prefix: str) -> list[Path]:
        """The work folders made with ``prefix`` that still exist (left by a dead worker)."""

    def stage(self, stream: BinaryIO, max_bytes: int | None = None, suffix: str = "") -> Path: ...

    def sweep_temp(self, older_than_s: float = 0.0) -> int: ...


class LocalFileStore:
    """Files under ``root``; ``max_bytes`` caps any single write (PayloadTooLarge past it)."""

    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    # -- reading ---------------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        """Where the file named ``sha256`` lives; NotFound if it is not stored."""
        path = self._final_path(sha256)
        if not path.is_file():
            raise NotFound(f"no stored file {sha256}")
        return path

    def local_path(self, sha256: str) -> Path | None:
        return self.path(sha256)

    def fetch(self, sha256: str, target: Path) -> Path:
        source = self.path(sha256)
        try:
            os.link(source, target)  # same filesystem: no copy (readers treat fetched files as read-only)
        except OSError:
            shutil.copyfile(source, target)
        return target

    def download_url(self, sha256: str, *, filename: str, media_type: str, expires_s: int) -> str | None:
        return None

    def ping(self) -> None:
        if not (self.tmp_dir.is_dir() and os.access(self.tmp_dir, os.W_OK | os.X_OK)):
            raise StorageUnavailable(f"the file store {self.root} is not writable")

    def exists(self, sha256: str) -> bool:
        return _SHA256.match(sha256 or "") is not None and self._final_path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def read_bytes(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    # -- writing ---------------------------------------------------------------------------------

    def put_bytes(self, data: bytes, max_bytes: int | None = None) -> StoredFile:
        limit = self.max_bytes if max_bytes is None else max_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"file is {len(data)} bytes; the limit is {limit} bytes")
        return self._commit_stream(_BytesChunks(data), limit)

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile:
        """Store everything ``stream`` yields, reading 1 MiB at a time (memory stays flat)."""
        return self._commit_stream(stream, self.max_bytes if max_bytes is None else max_bytes)

    def put_file(self, path: str | Path, *, move: bool = False) -> StoredFile:
        """Store a finished file. ``move=True`` renames it in (it must be on the store's filesystem,
        e.g. from :meth:`temp_path`), so a large output is never copied."""
        path = Path(path)
        if not move:
            with path.open("rb") as stream:
                return self.put_stream(stream)
        size = path.stat().st_size
        if size > self.max_bytes:
            raise PayloadTooLarge(f"file is {size} bytes; the limit is {self.max_bytes} bytes")
        digest = file_sha256(path)
        final = self._final_path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        publish(path, final, mode=0o600)
        return StoredFile(digest, size, final)

    def stored(self) -> Iterator[tuple[str, float]]:
        for path in self.root.glob("??/??/*"):
            with contextlib.suppress(FileNotFoundError):
                if _SHA256.match(path.name):
                    yield path.name, path.stat().st_mtime

    def modified_at(self, sha256: str) -> float | None:
        try:
            return self.path(sha256).stat().st_mtime
        except (FileNotFoundError, NotFound):
            return None

    def delete(self, sha256: str) -> bool:
        try:
            self._final_path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def work_dir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp_dir))

    def work_dirs(self, prefix: str) -> list[Path]:
        return [p for p in self.tmp_dir.glob(f"{prefix}*") if p.is_dir()]

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh path in the store's tmp dir for a worker to write into before :meth:`put_file`."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="work-", suffix=suffix)
        os.close(fd)
        return Path(name)

    def stage(self, stream: BinaryIO, max_bytes: int | None = None, suffix: str = "") -> Path:
        """Stream an upload into a temp file (size-capped) so it can be checked before
        :meth:`put_file` ``(move=True)`` publishes it; the caller deletes it if it is refused."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        path = self.temp_path(suffix)
        size = 0
        try:
            with path.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def sweep_temp(self, older_than_s: float = 0.0) -> int:
        """Delete leftovers of interrupted writes; returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime <= cutoff:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()
                    removed += 1
        return removed

    # -- internals -------------------------------------------------------------------------------

    def _final_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256 or ""):
            # Never let a caller-supplied name escape the store (e.g. "../../etc/passwd").
            raise InvalidInput(f"not a sha256 file name: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _commit_stream(self, stream: BinaryIO | _BytesChunks, limit: int) -> StoredFile:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"file exceeds the limit of {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            final = self._final_path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            publish(tmp, final, mode=0o600)  # identical content may already be there: replacing is harmless
            return StoredFile(sha, size, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def file_store_for(url: str | None, *, data_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> FileStore:
    """The file store a storage URL names: None -> ``data_dir/files``; ``file:///shared/dir`` -> that
    directory (a mount every host shares); ``s3://bucket[/prefix][?endpoint=URL&region=R&
    multipart_mb=N&presign_s=S]`` -> :class:`~candor.store.objectstore.S3FileStore`, with
    credentials from the usual AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, a role)
    and work files under ``data_dir/scratch``. InvalidInput for anything else."""
    if not url:
        return LocalFileStore(data_dir / "files", max_bytes)
    if url.startswith("file://"):
        return LocalFileStore(Path(url.removeprefix("file://")), max_bytes)
    if url.startswith("s3://"):
        from candor.store.objectstore import S3FileStore

        return S3FileStore.from_url(url, scratch=data_dir / "scratch", max_bytes=max_bytes)
    raise InvalidInput(f"unsupported storage URL {url.split('?')[0]!r}: use file:///DIR or s3://BUCKET/PREFIX")


class _BytesChunks:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = bytes(self._view[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk
