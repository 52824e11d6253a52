"""A Candor cluster on one machine, each part its own process: an API-only server (`candor serve
--no-worker`) and `candor worker` processes, each with its own data directory, sharing one fresh
PostgreSQL database, one S3 bucket (moto_server) and one set of keys and secrets given as files
(CANDOR_CLUSTER=true, so nothing host-local is generated). Used by tests/services/test_cluster.py and
benchmarks/scale.py."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "cluster test passphrase"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    root: Path  # a scratch folder: data dirs, secrets, logs
    server_url: str  # a PostgreSQL server URL (any database on it; a fresh one is created)
    s3_endpoint: str
    bucket: str
    lease_s: float = 5.0
    database_url: str = ""
    api_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str = ""
    world: dict[str, str] = field(default_factory=dict)

    # -- set-up --------------------------------------------------------------------------------------

    def create(self) -> None:
        """A fresh database, the shared key store (`candor keys init`, once) and the secret files."""
        name = f"candor_cluster_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.database_url = make_url(self.server_url).set(database=name).render_as_string(hide_password=False)
        secrets = self.root / "secrets"
        secrets.mkdir(parents=True, exist_ok=True)
        for file, value in {"passphrase": PASSPHRASE, "secret_key": "cluster-partner-secret",
                            "watermark": "cluster-watermark-secret-0123456789"}.items():  # fmt: skip
            (secrets / file).write_text(value + "\n")
        from candor.provenance.keys import KeyStore

        KeyStore(self.root / "keys").init(PASSPHRASE.encode())

    def env(self, name: str) -> dict[str, str]:
        """The environment of one process (its own data directory, everything else shared)."""
        secrets = self.root / "secrets"
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "CANDOR_DATA_DIR": str(self.root / name),
            "CANDOR_CLUSTER": "true",
            "CANDOR_ENVIRONMENT": "development",
            "CANDOR_DATABASE_URL": self.database_url,
            "CANDOR_STORAGE_URL": f"s3://{self.bucket}/candor?endpoint={self.s3_endpoint}",
            "CANDOR_KEYS_DIR": str(self.root / "keys"),
            "CANDOR_KEY_PASSPHRASE_FILE": str(secrets / "passphrase"),
            "CANDOR_SECRET_KEY_FILE": str(secrets / "secret_key"),
            "CANDOR_WATERMARK_SECRET_FILE": str(secrets / "watermark"),
            "CANDOR_JOB_LEASE_SECONDS": str(self.lease_s),
            "CANDOR_RATE_LIMIT_PER_S": "1000",
            "CANDOR_RATE_LIMIT_BURST": "1000",
        }

    def settings(self, name: str):  # -> candor.config.Settings for an in-process "host"
        from candor.config import Settings

        env = self.env(name)
        return Settings(
            data_dir=Path(env["CANDOR_DATA_DIR"]),
            cluster=True,
            database_url=self.database_url,
            storage_url=env["CANDOR_STORAGE_URL"],
            keys_dir=Path(env["CANDOR_KEYS_DIR"]),
            key_passphrase_file=Path(env["CANDOR_KEY_PASSPHRASE_FILE"]),
            secret_key_file=Path(env["CANDOR_SECRET_KEY_FILE"]),
            watermark_secret_file=Path(env["CANDOR_WATERMARK_SECRET_FILE"]),
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "candor.cli", *args], env=self.env(name), stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self, timeout_s: float = 180.0) -> None:
        """`candor serve --no-worker` (it migrates the database), then wait for readiness."""
        self.api_port = _free_port()
        process = self._spawn("api", "serve", "--no-worker", "--port", str(self.api_port), "--log-level", "warning")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.api}/v1/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not become ready:\n{self.log('api')}")
            time.sleep(0.5)

    def start_worker(self, name: str, metrics_port: int | None = None) -> subprocess.Popen:
        args = ["worker", "--grace-seconds", "20"]
        if metrics_port is not None:
            args += ["--metrics-port", str(metrics_port)]
        return self._spawn(name, *args)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def seed(self, speech: str = "Hello there.") -> None:
        """A partner with a key, a consent with the astronaut's reference photo and enrolled portrait,
        and a short espeak-ng clip, made through the services by an in-process host (files go to S3)."""
        from PIL import Image
        from skimage import data

        from candor import services
        from candor.services import analyze_portrait
        from candor.services.container import Container

        state = Container.build(self.settings("seed"))
        png = io.BytesIO()
        Image.fromarray(data.astronaut()).save(png, "PNG")
        wav = self.root / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "190", "-w", str(wav), speech], check=True, capture_output=True)
        log = state.ledger
        try:
            with state.session_factory() as session:
                partner = services.create_partner(session=session, log=log, name="Cluster", use_case="education")
                services.set_partner_state(session=session, log=log, partner_id=partner.id, state="approved")
                issued = services.issue_api_key(
                    session=session, log=log, partner_id=partner.id, scopes="generate", name="cluster"
                )
                consent = services.create_consent(
                    session=session, log=log, files=state.files, partner=partner, subject_name="Cluster Subject",
                    subject_is_adult=True, allowed_uses=["education"], evidence_document=b"I consent.",
                    evidence_document_type="text/plain", reference=png.getvalue(), policy=state.policy,
                )  # fmt: skip
                portrait = services.enroll_portrait(
                    session=session, log=log, files=state.files, partner=partner, consent_id=consent.id,
                    image=png.getvalue(), media_type="image/png",
                    face_summary=analyze_portrait(png.getvalue(), max_megapixels=50),
                )  # fmt: skip
                asset = services.create_audio_asset(
                    session=session, files=state.files, partner=partner, data=wav.read_bytes(), media_type="audio/wav"
                )
                self.token = issued.token
                self.world = {"consent_id": consent.id, "portrait_id": portrait.id, "audio_asset_id": asset.id}
        finally:
            state.close()

    # -- running -------------------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def submit(self, seeds: range) -> list[str]:
        """One generation request per seed, over HTTP; returns the job ids."""
        ids = []
        with httpx.Client(base_url=self.api, headers=self.headers, timeout=60) as client:
            for seed in seeds:
                response = client.post("/v1/generations", data={**self.world, "seed": str(seed)})
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
        return ids

    def statuses(self, ids: list[str]) -> dict[str, str]:
        from candor.store.models import Generation

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(Generation.id, Generation.status).where(Generation.id.in_(ids))).all()
        finally:
            engine.dispose()
        return {row[0]: row[1] for row in rows}

    def running_in(self, name: str) -> str | None:
        """A job that worker process ``name`` is running now, or None."""
        from candor.store.models import Generation

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(
                    select(Generation.id).where(
                        Generation.status == "running",
                        Generation.lease_owner.like(f"%:{self.processes[name].pid}:%"),
                    )
                ).scalar()
        finally:
            engine.dispose()

    def wait(self, ids: list[str], timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while True:
            now = self.statuses(ids)
            if all(s not in ("queued", "running") for s in now.values()) or time.monotonic() > deadline:
                return now
            time.sleep(0.5)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int | None:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def shutdown(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        if self.database_url:
            admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
            name = make_url(self.database_url).database
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    # -- checking ------------------------------------------------------------------------------------

    def audit(self, ids: list[str]) -> dict[str, object]:
        """From the database, the log and the bucket: each job succeeded exactly once (one
        ``generation.completed`` entry, no stray output object), and every output, downloaded through
        the API, verifies as Candor's (C2PA proven, naming its own generation)."""
        from candor.provenance.verify import Outcome
        from candor.services.container import Container
        from candor.store.models import Generation, LogEntryRow

        state = Container.build(self.settings("auditor"))
        try:
            with state.session_factory() as session:
                gens = {g.id: g for g in session.scalars(select(Generation).where(Generation.id.in_(ids)))}
                completed = Counter(
                    session.scalars(
                        select(LogEntryRow.subject).where(
                            LogEntryRow.event_type == "generation.completed", LogEntryRow.subject.in_(ids)
                        )
                    )
                )
                total_jobs = session.scalar(select(func.count()).select_from(Generation))
            outputs = {g.output_sha256 for g in gens.values() if g.output_sha256}
            stored = {sha for sha, _ in state.files.stored()}
            # An MP4 in the bucket that no job refers to would be the output of a duplicated run.
            stray = [sha for sha in stored - outputs if state.files.read_bytes(sha)[4:8] == b"ftyp"]
            verified = 0
            work = self.root / "downloads"
            work.mkdir(exist_ok=True)
            with httpx.Client(base_url=self.api, headers=self.headers, timeout=120) as client:
                for g in gens.values():
                    if g.status != "succeeded":
                        continue
                    response = client.get(f"/v1/generations/{g.id}/video")
                    path = work / f"{g.id}.mp4"
                    path.write_bytes(response.content)
                    report = state.verifier.verify_file(path)
                    generation = report.summary.generation if report.summary else {}
                    if report.outcome is Outcome.PROVEN and generation.get("generation_id") == g.id:
                        verified += 1
        finally:
            state.close()
        return {
            "jobs": len(ids),
            "all_jobs_in_database": total_jobs,
            "succeeded": sum(g.status == "succeeded" for g in gens.values()),
            "completed_entries": dict(completed),
            "stray_outputs": len(stray),
            "distinct_outputs": len(outputs),
            "attempts": dict(sorted(Counter(g.attempts for g in gens.values()).items())),
            "verified": verified,
        }
