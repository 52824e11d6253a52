"""One Settings object for every area of Candor.

Values come from environment variables with the ``CANDOR_`` prefix, or from an optional
TOML/env file named by ``CANDOR_CONFIG_FILE``. Build it with :func:`get_settings`; nothing is
read at import time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"  # a marker the settings refuse in production


def default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "candor"


class Settings(BaseSettings):
    """Every tunable of the product. Areas read only the fields they need."""

    model_config = SettingsConfigDict(env_prefix="CANDOR_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # CANDOR_CLUSTER=true: one of several hosts (API servers, workers) sharing a database and a file
    # store. Nothing host-local may be made on first use then (signing keys, their passphrase, the
    # watermark secret): each must be given to every host, and the database and store must be shared.
    cluster: bool = False
    data_dir: Path = Field(default_factory=default_data_dir)

    # generator (the frame-rate range and default live in candor.generator.controls)
    max_audio_seconds: float = Field(120.0, gt=0)
    max_image_megapixels: float = Field(50.0, gt=0)

    # storage / service
    database_url: str | None = None  # default: a SQLite file in data_dir
    secret_key: str = PLACEHOLDER_SECRET
    secret_key_file: Path | None = None  # CANDOR_SECRET_KEY_FILE: a secret file holding it (wins over the variable)

    # HTTP API: per-key token bucket (shared through Redis when redis_url is set), upload cap
    rate_limit_per_s: float = Field(10.0, gt=0)  # sustained requests per second per API key
    rate_limit_burst: int = Field(40, ge=1)  # requests a key may send at once after idling
    # Failed authentications per client address, checked before the key lookup (key guessing).
    auth_failure_rate_per_s: float = Field(0.2, gt=0)  # one more failure allowed every 5 s
    auth_failure_burst: int = Field(20, ge=1)  # failures a client may make at once
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0; None = in-process buckets
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)  # one uploaded file (image, audio, evidence)
    # CANDOR_STORAGE_URL: where stored files live. None = data_dir/files on this host;
    # file:///shared/dir = a directory every host mounts; s3://bucket/prefix?endpoint=URL&region=R =
    # an S3-compatible object store (credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a role).
    storage_url: str | None = None
    download_url_seconds: int = Field(900, ge=1, le=7 * 24 * 3600)  # presigned download URLs' lifetime
    policy_file: Path | None = None  # CANDOR_POLICY_FILE (TOML/YAML); None = the packaged default policy
    workers: int = Field(1, ge=1, le=64)  # in-process generation job workers per server process
    # Days a finished video is kept; then the maintenance step removes it (status "expired", 410 on
    # download). None: keep outputs until their consent is erased.
    output_retention_days: float | None = Field(None, gt=0)
    maintenance_interval_s: float = Field(3600.0, gt=0)  # how often `candor serve` runs maintenance
    # Seconds a claimed job stays leased without a heartbeat (beats come every second): how long a job
    # of a worker that died on another host waits before another worker re-runs it.
    job_lease_seconds: float = Field(30.0, ge=3, le=3600)
    run_jobs: bool = True  # CANDOR_RUN_JOBS=false: an API-only process (jobs run elsewhere)

    # provenance: signing keys, timestamping, trust
    keys_dir: Path | None = None  # default: data_dir / "keys"
    key_passphrase: SecretStr | None = None  # CANDOR_KEY_PASSPHRASE; encrypts the private keys at rest
    key_passphrase_file: Path | None = None  # CANDOR_KEY_PASSPHRASE_FILE: a secret file holding it
    tsa_url: str | None = None  # RFC 3161 timestamp authority; None = no timestamp (offline default)
    trust_anchors: list[Path] = Field(default_factory=list)  # extra root PEM files trusted when verifying
    c2pa_thumbnails: bool = False  # ingredient thumbnails add ~42 KB per manifest
    # CANDOR_WATERMARK_SECRET keys the invisible watermark; the placeholder means "development secret
    # file in data_dir" (created 0600 on first use) and is refused in production.
    watermark_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    watermark_secret_file: Path | None = None  # CANDOR_WATERMARK_SECRET_FILE (wins over the variable)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'candor.db'}"

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    @property
    def generates_local_secrets(self) -> bool:
        """Whether missing keys, passphrase and watermark secret are made on first use (development
        on one host only; never in a cluster)."""
        return self.environment == "development" and not self.cluster

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        if self.secret_key_file is not None:
            self.secret_key = _read_secret(self.secret_key_file, "CANDOR_SECRET_KEY_FILE")
        if self.watermark_secret_file is not None:
            self.watermark_secret = SecretStr(_read_secret(self.watermark_secret_file, "CANDOR_WATERMARK_SECRET_FILE"))
        return self

    @model_validator(mode="after")
    def _cluster_shares_everything(self) -> Settings:
        if not self.cluster:
            return self
        missing = []
        if not self.database_url or self.database_url.startswith("sqlite"):
            missing.append("CANDOR_DATABASE_URL (a PostgreSQL server every host reaches)")
        if not self.storage_url:
            missing.append("CANDOR_STORAGE_URL (s3://bucket/prefix?endpoint=..., or file:///shared/mount)")
        if self.key_passphrase is None and self.key_passphrase_file is None:
            missing.append("CANDOR_KEY_PASSPHRASE or CANDOR_KEY_PASSPHRASE_FILE")
        if self.keys_dir is None:
            missing.append("CANDOR_KEYS_DIR (the key store from `candor keys init`, given to every host)")
        if self.secret_key == PLACEHOLDER_SECRET:
            missing.append("CANDOR_SECRET_KEY or CANDOR_SECRET_KEY_FILE")
        if self.watermark_secret.get_secret_value() == PLACEHOLDER_SECRET:
            missing.append("CANDOR_WATERMARK_SECRET or CANDOR_WATERMARK_SECRET_FILE")
        if missing:
            raise ValueError("CANDOR_CLUSTER=true needs values shared by every host: " + "; ".join(missing))
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "production" and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError("CANDOR_SECRET_KEY must be set to a real secret in production")
        if self.environment == "production" and self.watermark_secret.get_secret_value() == PLACEHOLDER_SECRET:
            raise ValueError("CANDOR_WATERMARK_SECRET must be set to a real secret in production")
        return self


def _read_secret(path: Path, variable: str) -> str:
    try:
        value = Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path} ({exc.strerror})") from None
    if not value:
        raise ValueError(f"{variable}: {path} is empty")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process (env vars, then an optional file)."""
    config_file = os.environ.get("CANDOR_CONFIG_FILE")
    if config_file:
        return Settings(_env_file=config_file)  # type: ignore[call-arg]
    return Settings()
