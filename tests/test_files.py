"""The one atomic write and file hash (candor/files.py)."""

import hashlib
import os
import stat

import pytest

from candor.files import atomic_output, atomic_write_bytes, atomic_write_text, file_sha256


def test_atomic_write_replaces_the_file_whole_with_the_mode_asked(tmp_path):
    target = tmp_path / "sub" / "key.pem"
    atomic_write_text(target, "first")
    atomic_write_bytes(target, b"second", mode=0o600)
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["key.pem"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "video.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path  # writers that pick the format by suffix
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]


def test_file_sha256_matches_hashlib_across_chunk_boundaries(tmp_path):
    data = os.urandom((1 << 20) + 12345)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_sniff_media_type_reads_the_bytes_not_the_name():
    from candor.files import sniff_media_type

    assert sniff_media_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "image/png"
    assert sniff_media_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_media_type(b"PK\x03\x04" + b"\0" * 12) == "application/zip"  # a zip named .pdf stays a zip
    assert sniff_media_type(b"RIFF\0\0\0\0WAVEfmt ") == "audio/wav"
    assert sniff_media_type(b"RF64\xff\xff\xff\xffWAVEds64") == "audio/wav"  # WAV over 4 GiB
    assert sniff_media_type(b"\0\0\0\x18ftypisom\0\0\0\0") == "video/mp4"
    assert sniff_media_type(b"\0\0\0\x08skip\0\0\0\0") == "video/quicktime"
    assert sniff_media_type(b"ID3\x04\0\0\0\0\0\0") == "audio/mpeg"
    assert sniff_media_type(b"hello, I consent") is None  # text has no signature
    assert sniff_media_type(b"") is None
