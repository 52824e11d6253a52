"""The S3 file store against a real S3-compatible server (moto_server): content addressing,
multipart uploads, presigned download URLs, integrity on download, and clear errors."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest

from candor.errors import InvalidInput, NotFound, PayloadTooLarge, StorageUnavailable
from candor.store.filestore import LocalFileStore, file_store_for
from candor.store.objectstore import S3FileStore


@pytest.fixture
def store(s3_server, tmp_path: Path) -> S3FileStore:
    bucket = s3_server.new_bucket()
    return S3FileStore.from_url(f"s3://{bucket}/blobs?endpoint={s3_server.endpoint}", scratch=tmp_path / "scratch")


def test_content_addressed_objects_round_trip(store: S3FileStore, s3_server, tmp_path: Path) -> None:
    data = os.urandom(5000)
    a = store.put_bytes(data)
    b = store.put_stream(io.BytesIO(data))
    digest = hashlib.sha256(data).hexdigest()
    assert a.sha256 == b.sha256 == digest and a.size == 5000
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=store.bucket)["Contents"]]
    assert keys == [f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"]  # stored once, under its digest
    assert store.exists(digest) and store.read_bytes(digest) == data
    assert store.local_path(digest) is None  # nothing to read on this host: fetch or open
    fetched = store.fetch(digest, tmp_path / "copy.bin")
    assert fetched.read_bytes() == data
    assert [sha for sha, _ in store.stored()] == [digest]
    assert list(store.tmp_dir.iterdir()) == []  # no local leftovers of the uploads

    source = tmp_path / "out.mp4"
    source.write_bytes(b"other bytes")
    moved = store.put_file(source, move=True)
    assert not source.exists() and store.read_bytes(moved.sha256) == b"other bytes"
    assert store.delete(moved.sha256) and not store.exists(moved.sha256) and not store.delete(moved.sha256)


def test_large_files_go_up_in_parts(store: S3FileStore, s3_server, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 << 20))  # 11 MiB: over the 8 MiB threshold, so two parts
    stored = store.put_file(big)
    head = s3_server.client().head_object(Bucket=store.bucket, Key=store.key(stored.sha256))
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object's ETag counts its parts
    assert head["ContentLength"] == 11 << 20
    assert store.fetch(stored.sha256, tmp_path / "back.bin").read_bytes() == big.read_bytes()


def test_presigned_url_downloads_without_credentials(store: S3FileStore) -> None:
    stored = store.put_bytes(b"\x00\x00\x00\x18ftypmp42 a video")
    url = store.download_url(stored.sha256, filename="gen_1.mp4", media_type="video/mp4", expires_s=60)
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    response = httpx.get(url)  # a plain HTTP client: no AWS credentials involved
    assert response.status_code == 200 and response.content == b"\x00\x00\x00\x18ftypmp42 a video"
    assert response.headers["content-type"] == "video/mp4"
    assert 'filename="gen_1.mp4"' in response.headers["content-disposition"]
    with pytest.raises(NotFound):
        store.download_url("0" * 64, filename="x.mp4", media_type="video/mp4", expires_s=60)


def test_missing_wrong_and_tampered_objects_are_refused(store: S3FileStore, s3_server, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.fetch("a" * 64, tmp_path / "none")
    assert not (tmp_path / "none").exists() and not store.exists("a" * 64)
    with pytest.raises(InvalidInput):
        store.read_bytes("../../etc/passwd")
    with pytest.raises(PayloadTooLarge):
        store.put_bytes(b"x" * 10, max_bytes=5)
    # Someone overwrites an object with other bytes: reading it by its name notices.
    stored = store.put_bytes(b"original")
    s3_server.client().put_object(Bucket=store.bucket, Key=store.key(stored.sha256), Body=b"forged!")
    with pytest.raises(StorageUnavailable):
        store.fetch(stored.sha256, tmp_path / "forged")
    assert not (tmp_path / "forged").exists()
    with pytest.raises(StorageUnavailable):
        store.read_bytes(stored.sha256)


def test_ping_and_storage_urls(s3_server, store: S3FileStore, tmp_path: Path) -> None:
    store.ping()
    gone = S3FileStore("no-such-bucket-here", scratch=tmp_path / "s", endpoint_url=s3_server.endpoint)
    with pytest.raises(StorageUnavailable):
        gone.ping()
    dead = S3FileStore("b", scratch=tmp_path / "s", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageUnavailable):
        dead.ping()
    assert isinstance(file_store_for(None, data_dir=tmp_path), LocalFileStore)
    shared = file_store_for(f"file://{tmp_path / 'shared'}", data_dir=tmp_path)
    assert isinstance(shared, LocalFileStore) and shared.root == tmp_path / "shared"
    with pytest.raises(InvalidInput):
        file_store_for("ftp://host/x", data_dir=tmp_path)
