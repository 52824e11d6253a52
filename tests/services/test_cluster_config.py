"""Cluster mode: every host is given the same keys and secrets (files or environment); nothing
host-local is generated on first use, and a host missing a shared value refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from candor.config import Settings
from candor.errors import KeyStoreError
from candor.provenance.keys import KeyStore, fingerprint
from candor.services.container import key_store, signing_identity, watermark_key

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _secret_files(tmp_path: Path) -> dict[str, Path]:
    files = {"secret_key_file": "partner-pseudonym-secret", "watermark_secret_file": "watermark-secret-32-bytes-long!!",
             "key_passphrase_file": "a long shared passphrase"}  # fmt: skip
    out = {}
    for name, value in files.items():
        path = tmp_path / "secrets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(value + "\n")
        out[name] = path
    return out


def test_a_cluster_host_names_every_missing_shared_value(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as failure:
        Settings(data_dir=tmp_path, cluster=True)
    message = str(failure.value)
    for name in ("CANDOR_DATABASE_URL", "CANDOR_STORAGE_URL", "CANDOR_KEY_PASSPHRASE", "CANDOR_KEYS_DIR",
                 "CANDOR_SECRET_KEY", "CANDOR_WATERMARK_SECRET"):  # fmt: skip
        assert name in message
    with pytest.raises(ValidationError, match="CANDOR_DATABASE_URL"):  # SQLite is one host's file
        Settings(data_dir=tmp_path, cluster=True, database_url=f"sqlite:///{tmp_path}/x.db", **_secret_files(tmp_path),
                 storage_url="s3://b", keys_dir=tmp_path / "keys")  # fmt: skip


def test_secret_files_are_read_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    secrets = _secret_files(tmp_path)
    settings = Settings(data_dir=tmp_path, **secrets)
    assert settings.secret_key == "partner-pseudonym-secret"
    assert settings.watermark_secret.get_secret_value() == "watermark-secret-32-bytes-long!!"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValidationError, match="is empty"):
        Settings(data_dir=tmp_path, secret_key_file=tmp_path / "empty")
    with pytest.raises(ValidationError, match="cannot read"):
        Settings(data_dir=tmp_path, watermark_secret_file=tmp_path / "absent")


def test_cluster_hosts_share_keys_and_generate_none(tmp_path: Path) -> None:
    secrets = _secret_files(tmp_path)
    shared_keys = tmp_path / "shared-keys"

    def host(name: str) -> Settings:
        return Settings(data_dir=tmp_path / name, cluster=True, database_url=PG, storage_url="s3://bucket",
                        keys_dir=shared_keys, **secrets)  # fmt: skip

    # No key store yet: a cluster host refuses instead of making one of its own (development would).
    with pytest.raises(KeyStoreError, match="candor keys init"):
        key_store(host("a"))
    assert not shared_keys.exists() and not (tmp_path / "a").exists()
    with pytest.raises(Exception, match="CANDOR_WATERMARK_SECRET"):
        watermark_key(host("a").model_copy(update={"watermark_secret_file": None}).model_copy(
            update={"watermark_secret": Settings().watermark_secret}))  # fmt: skip

    KeyStore(shared_keys).init(b"a long shared passphrase")  # `candor keys init`, once
    a, b = signing_identity(host("a")), signing_identity(host("b"))
    assert fingerprint(a.certificate) == fingerprint(b.certificate)  # both hosts sign as one service
    assert watermark_key(host("a")).stream("x", 8) == watermark_key(host("b")).stream("x", 8)
    assert not (tmp_path / "a" / "watermark.secret").exists()  # no development secret was written
