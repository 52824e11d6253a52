"""The content-addressed file store: names, limits, streaming, path safety, and a writer killed
mid-write leaving no visible file."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from candor.errors import InvalidInput, NotFound, PayloadTooLarge
from candor.store.filestore import LocalFileStore


def test_names_are_sha256_and_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "fs")
    data = os.urandom(3000)
    a = store.put_bytes(data)
    b = store.put_stream(io.BytesIO(data))
    assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest() and a.size == 3000
    assert a.path == store.root / a.sha256[:2] / a.sha256[2:4] / a.sha256
    assert store.read_bytes(a.sha256) == data
    assert len(list(store.root.glob("??/??/*"))) == 1
    assert list(store.tmp_dir.iterdir()) == []


def test_streams_large_files_in_chunks(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "fs", max_bytes=16 << 20)

    class CountingReader(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left, self.largest = total, 0

        def read(self, n: int = -1) -> bytes:
            n = self.left if n < 0 else min(n, self.left)
            self.largest = max(self.largest, n)
            self.left -= n
            return b"\x5a" * n

    reader = CountingReader(9 << 20)
    stored = store.put_stream(reader)  # type: ignore[arg-type]
    assert stored.size == 9 << 20 and reader.largest <= 1 << 20  # never asked for more than a chunk
    assert stored.sha256 == hashlib.sha256(b"\x5a" * (9 << 20)).hexdigest()


def test_size_limit_leaves_nothing(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "fs", max_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        store.put_bytes(b"x" * 1001)
    with pytest.raises(PayloadTooLarge):
        store.put_stream(io.BytesIO(b"x" * 5000))
    with pytest.raises(PayloadTooLarge):
        store.stage(io.BytesIO(b"x" * 5000))
    assert list(store.root.rglob("*")) == [store.tmp_dir]
    assert store.put_bytes(b"x" * 1000).size == 1000


def test_names_cannot_escape_the_store(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "fs")
    for name in ("../../etc/passwd", "a" * 63, "A" * 64, ""):
        with pytest.raises(InvalidInput):
            store.path(name)
        assert not store.exists(name)
    with pytest.raises(NotFound):
        store.path("0" * 64)


def test_put_file_moves_a_finished_temp_file(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "fs")
    work = store.temp_path(".mp4")
    work.write_bytes(b"finished video")
    stored = store.put_file(work, move=True)
    assert not work.exists() and stored.path.read_bytes() == b"finished video"


WRITER = """
import sys, time
from candor.store.filestore import LocalFileStore

class Slow:
    def __init__(self):
        self.n = 0
    def read(self, size):
        self.n += 1
        if self.n == 3:
            open(sys.argv[2], "w").write("mid-write")
        if self.n > 3:
            time.sleep(60)
        return b"y" * size

LocalFileStore(sys.argv[1]).put_stream(Slow())
"""


def test_writer_killed_mid_write_publishes_nothing(tmp_path: Path) -> None:
    root, marker = tmp_path / "fs", tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = LocalFileStore(root)
    assert list(root.glob("??/??/*")) == []  # no published (final) file
    leftovers = list(store.tmp_dir.iterdir())
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 2 << 20  # the interrupted temp file
    assert store.sweep_temp(older_than_s=3600) == 0  # too young: might belong to a live writer
    assert store.sweep_temp() == 1 and list(store.tmp_dir.iterdir()) == []
