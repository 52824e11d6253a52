"""An S3-compatible object store behind :class:`candor.store.filestore.FileStore`, so API servers and
workers on many hosts share one set of files.

Objects are content-addressed: ``<prefix>ab/cd/<sha256>``, the same digest the database records, so
a write is idempotent (an object that is already there is not sent again) and a read checks the bytes
it got against their name. Uploads go through boto3's managed transfer (multipart past
``multipart_threshold``, parts sent in parallel); downloads can be handed out as presigned URLs.
Work files (uploads being checked, a job's inputs and output) stay on this host's disk under
``scratch`` (a :class:`~candor.store.filestore.LocalFileStore`'s ``tmp/``), and a stored file is
fetched into a job's folder before use.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from candor.errors import InvalidInput, NotFound, PayloadTooLarge, StorageUnavailable
from candor.files import file_sha256
from candor.store.filestore import _SHA256, CHUNK, DEFAULT_MAX_BYTES, LocalFileStore, StoredFile

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3FileStore:
    """Files in ``bucket`` under ``prefix``; ``client``: a boto3 S3 client (built from ``endpoint_url``
    and ``region`` when None). ``multipart_threshold`` bytes and up go up in parts of that size."""

    def __init__(
        self,
        bucket: str,
        *,
        scratch: str | Path,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        multipart_threshold: int = 8 << 20,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if not bucket:
            raise InvalidInput("an s3:// storage URL needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.max_bytes = max_bytes
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            # Path-style addressing works with every S3-compatible server (no per-bucket DNS names).
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold, max_concurrency=4
        )
        self.scratch = LocalFileStore(scratch, max_bytes)
        self.tmp_dir = self.scratch.tmp_dir

    @classmethod
    def from_url(cls, url: str, *, scratch: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> S3FileStore:
        """``s3://bucket[/prefix][?endpoint=URL&region=R&multipart_mb=N]``."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            multipart = int(float(query.get("multipart_mb", "8")) * (1 << 20))
        except ValueError:
            raise InvalidInput(f"multipart_mb must be a number, not {query['multipart_mb']!r}") from None
        return cls(
            parts.netloc,
            scratch=scratch,
            prefix=parts.path,
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
            max_bytes=max_bytes,
            multipart_threshold=max(5 << 20, multipart),  # S3's smallest part is 5 MiB
        )

    # -- reading ---------------------------------------------------------------------------------

    def key(self, sha256: str) -> str:
        if not _SHA256.match(sha256 or ""):
            raise InvalidInput(f"not a sha256 file name: {sha256!r}")
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def local_path(self, sha256: str) -> Path | None:
        return None

    def exists(self, sha256: str) -> bool:
        if not _SHA256.match(sha256 or ""):
            return False
        try:
            self._call("head_object", Bucket=self.bucket, Key=self.key(sha256))
        except NotFound:
            return False
        return True

    def modified_at(self, sha256: str) -> float | None:
        if not _SHA256.match(sha256 or ""):
            return None
        try:
            head = self._call("head_object", Bucket=self.bucket, Key=self.key(sha256))
        except NotFound:
            return None
        return head["LastModified"].timestamp()

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the object's bytes (botocore's StreamingBody; close it when done)."""
        return self._call("get_object", Bucket=self.bucket, Key=self.key(sha256))["Body"]

    def read_bytes(self, sha256: str) -> bytes:
        body = self.open(sha256)
        try:
            data = body.read()
        finally:
            body.close()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageUnavailable(f"object {sha256} came back with other bytes than its name")
        return data

    def fetch(self, sha256: str, target: Path) -> Path:
        """Download into ``target`` (through a temp name beside it) and check the bytes' digest."""
        target = Path(target)
        partial = target.with_name(target.name + ".part")
        try:
            self._call("download_file", self.bucket, self.key(sha256), str(partial), Config=self.transfer)
            if file_sha256(partial) != sha256:
                raise StorageUnavailable(f"object {sha256} came back with other bytes than its name")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def download_url(self, sha256: str, *, filename: str, media_type: str, expires_s: int) -> str | None:
        """A presigned GET URL valid ``expires_s`` seconds, answering with ``media_type`` as an
        attachment named ``filename``. Signing is local: nothing is sent until it is used."""
        if not self.exists(sha256):
            raise NotFound(f"no stored file {sha256}")
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key(sha256),
                "ResponseContentType": media_type,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_s,
        )

    def ping(self) -> None:
        self._call("head_bucket", Bucket=self.bucket)
        self.scratch.ping()

    def stored(self) -> Iterator[tuple[str, float]]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if _SHA256.match(name):
                        yield name, item["LastModified"].timestamp()
        except self._errors() as exc:
            raise StorageUnavailable(f"listing s3://{self.bucket}/{self.prefix} failed: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------------

    def put_bytes(self, data: bytes, max_bytes: int | None = None) -> StoredFile:
        limit = self.max_bytes if max_bytes is None else max_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"file is {len(data)} bytes; the limit is {limit} bytes")
        return self.put_stream(io.BytesIO(data), limit)

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile:
        """Stream into a private local temp file (size-capped, hashed as it goes), then upload it."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        path = self.scratch.temp_path()
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"file exceeds the limit of {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            self._upload(path, sha)
        finally:
            path.unlink(missing_ok=True)
        return StoredFile(sha, size, path)

    def put_file(self, path: str | Path, *, move: bool = False) -> StoredFile:
        """Upload a finished file (``move``: the local file is removed once the object is stored)."""
        path = Path(path)
        size = path.stat().st_size
        if size > self.max_bytes:
            raise PayloadTooLarge(f"file is {size} bytes; the limit is {self.max_bytes} bytes")
        digest = file_sha256(path)
        self._upload(path, digest)
        if move:
            path.unlink(missing_ok=True)
        return StoredFile(digest, size, path)

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        self._call("delete_object", Bucket=self.bucket, Key=self.key(sha256))
        return True

    # -- this host's work area ---------------------------------------------------------------------

    def temp_path(self, suffix: str = "") -> Path:
        return self.scratch.temp_path(suffix)

    def work_dir(self, prefix: str) -> Path:
        return self.scratch.work_dir(prefix)

    def work_dirs(self, prefix: str) -> list[Path]:
        return self.scratch.work_dirs(prefix)

    def stage(self, stream: BinaryIO, max_bytes: int | None = None, suffix: str = "") -> Path:
        return self.scratch.stage(stream, max_bytes, suffix)

    def sweep_temp(self, older_than_s: float = 0.0) -> int:
        return self.scratch.sweep_temp(older_than_s)

    # -- internals -------------------------------------------------------------------------------

    def _upload(self, path: Path, digest: str) -> None:
        if self.exists(digest):
            return  # content-addressed: the same bytes are already there
        self._call(
            "upload_file",
            str(path),
            self.bucket,
            self.key(digest),
            ExtraArgs={"Metadata": {"sha256": digest}},
            Config=self.transfer,
        )

    @staticmethod
    def _errors() -> tuple[type[BaseException], ...]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError, S3UploadFailedError)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(...)``: a missing object is NotFound, any other failure StorageUnavailable."""
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING and method != "head_bucket":
                raise NotFound(f"no stored file {str(kwargs.get('Key') or args[1]).rsplit('/', 1)[-1]}") from None
            raise StorageUnavailable(f"s3://{self.bucket}: {method} failed ({code or exc})") from exc
        except self._errors() as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {method} failed ({exc})") from exc
