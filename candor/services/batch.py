"""A detector scan of many videos: a folder (recursively) or an S3 bucket prefix, one row per video.

The scan fans out through an :class:`~candor.executors.Executor` (serial, a process pool, or Ray):
the driver lists the videos and writes the rows; each worker runs :func:`scan_one`, which builds the
verifier (trust roots, watermark key, a manifest lookup on the shared database) and the classifier
once per worker process from a :class:`ScanRecipe` of plain values, never a pickled container.

Every video gives exactly one row (:func:`scan_one`), a bad one included:
``{"path", "verdict", "label", "reason", "seconds", "error", "generation_id", "probability"}``;
``error`` is set when the file could not be analysed (unreadable, too large, gone, a worker that
crashed). Rows go to a JSON-lines file (published whole when the scan ends) or to a callback.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from candor.errors import CandorError, InvalidInput, PayloadTooLarge
from candor.files import atomic_output

if TYPE_CHECKING:
    from candor.executors import Executor
    from candor.provenance.watermark import WatermarkKey
    from candor.services.container import Container

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
DEFAULT_MAX_BYTES = 2 * 1024**3  # as `candor detect`


@dataclass(frozen=True)
class ScanRecipe:
    """What a worker process needs to build its scanner: plain, picklable values. It holds the
    watermark secret and the database URL: send it only to workers trusted with them (the hosts of
    your own Ray cluster)."""

    database_url: str  # the manifest repository (watermark -> generation record)
    trust_anchors: tuple[str, ...]  # PEM roots
    watermark_key: WatermarkKey | None
    checkpoint: str | None = None  # classifier checkpoint; None: the shipped one
    max_bytes: int = DEFAULT_MAX_BYTES
    s3_endpoint: str | None = None  # for s3:// sources (credentials from each worker's environment)
    s3_region: str | None = None

    @classmethod
    def from_container(
        cls, container: Container, *, checkpoint: Path | None = None, source: str | None = None
    ) -> ScanRecipe:
        """The recipe for this process's container (and the endpoint of an s3:// ``source``)."""
        endpoint = region = None
        if source is not None and source.startswith("s3://"):
            query = {k: v[-1] for k, v in parse_qs(urlsplit(source).query).items()}
            endpoint, region = query.get("endpoint"), query.get("region")
        return cls(
            database_url=container.engine.url.render_as_string(hide_password=False),
            trust_anchors=tuple(container.trust_anchors),
            watermark_key=container.watermark_key,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
            s3_endpoint=endpoint,
            s3_region=region,
        )


@dataclass(frozen=True)
class Video:
    """One video to scan: a local path or ``s3://bucket/key``; ``size`` in bytes when listed."""

    location: str
    size: int | None = None


@dataclass
class ScanSummary:
    videos: int
    by_verdict: dict[str, int]
    errors: int
    wall_s: float
    videos_per_minute: float
    executor: str
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # kept only when asked

    def to_dict(self) -> dict[str, Any]:
        return {
            "videos": self.videos,
            "by_verdict": self.by_verdict,
            "errors": self.errors,
            "wall_s": self.wall_s,
            "videos_per_minute": self.videos_per_minute,
            "executor": self.executor,
        }


# --- listing -----------------------------------------------------------------------------------


def _s3_client(endpoint: str | None, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    )


def _split_s3(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    if not parts.netloc:
        raise InvalidInput(f"an s3:// location needs a bucket: {location}")
    return parts.netloc, parts.path.lstrip("/")


def list_videos(source: str, *, endpoint: str | None = None, region: str | None = None) -> list[Video]:
    """The videos under ``source`` (a folder, searched recursively, or ``s3://bucket/prefix``),
    sorted, by file suffix (:data:`VIDEO_SUFFIXES`). Raises InvalidInput for a missing folder or an
    unreachable bucket and when there is no video."""
    if source.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = _split_s3(source.split("?", 1)[0])
        found = []
        try:
            pages = _s3_client(endpoint, region).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    if obj["Key"].lower().endswith(VIDEO_SUFFIXES):
                        found.append(Video(f"s3://{bucket}/{obj['Key']}", int(obj["Size"])))
        except (BotoCoreError, ClientError) as exc:
            raise InvalidInput(f"cannot list {source}: {exc}") from None
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise InvalidInput(f"not a folder: {source}")
        found = [
            Video(str(p.resolve()), p.stat().st_size)
            for p in folder.rglob("*")
            if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
        ]
    if not found:
        raise InvalidInput(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {source}")
    return sorted(found, key=lambda v: v.location)


# --- one video, in a worker ----------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _scanner(recipe: ScanRecipe) -> tuple[Any, Any]:
    """(verifier, classifier) for ``recipe``, built once per worker process."""
    from candor.detector.model import load_classifier
    from candor.provenance.verify import Verifier
    from candor.services.manifests import ManifestRepository
    from candor.store.database import make_engine, make_session_factory

    manifests = ManifestRepository(make_session_factory(make_engine(recipe.database_url)))
    verifier = Verifier(trust_anchors=recipe.trust_anchors, watermark_key=recipe.watermark_key, manifests=manifests)
    classifier = load_classifier(Path(recipe.checkpoint)) if recipe.checkpoint else load_classifier()
    return verifier, classifier


def error_row(location: str, error: str, seconds: float = 0.0) -> dict[str, Any]:
    """The row of a video that could not be analysed."""
    return {
        "path": location,
        "verdict": "cannot_analyse",
        "label": "cannot analyse",
        "reason": error,
        "seconds": round(seconds, 3),
        "error": error,
        "generation_id": None,
        "probability": None,
    }


def scan_one(recipe: ScanRecipe, video: Video) -> dict[str, Any]:
    """Scan one video with :func:`candor.detector.verdict.detect_video`; always a row, never a raise
    for a bad input (a missing, oversized or unreadable file is a ``cannot_analyse`` row with ``error``)."""
    from candor.detector.verdict import detect_video

    started = time.perf_counter()
    verifier, classifier = _scanner(recipe)
    scratch = None
    try:
        if video.size is not None and video.size > recipe.max_bytes:
            raise PayloadTooLarge(f"{video.size} bytes; the limit is {recipe.max_bytes} bytes")
        path = video.location
        if path.startswith("s3://"):
            scratch = Path(tempfile.mkdtemp(prefix="candor-scan-"))
            path = str(_download(recipe, video.location, scratch))
        report = detect_video(path, verifier=verifier, classifier=classifier, max_bytes=recipe.max_bytes)
    except CandorError as exc:
        return error_row(video.location, exc.detail, time.perf_counter() - started)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "path": video.location,
        "verdict": report.verdict.value,
        "label": report.label,
        "reason": report.reason,
        "seconds": round(time.perf_counter() - started, 3),
        "error": report.reason if report.unreadable else None,
        "generation_id": (report.generation or {}).get("generation_id"),
        "probability": report.classifier.probability if report.classifier is not None else None,
    }


def _download(recipe: ScanRecipe, location: str, folder: Path) -> Path:
    from botocore.exceptions import BotoCoreError, ClientError

    from candor.errors import StorageUnavailable

    bucket, key = _split_s3(location)
    target = folder / (Path(key).name or "video")
    try:
        _s3_client(recipe.s3_endpoint, recipe.s3_region).download_file(bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"cannot download {location}: {exc}") from None
    return target


# --- the whole scan, in the driver ---------------------------------------------------------------


def scan_videos(
    videos: list[Video],
    *,
    recipe: ScanRecipe,
    executor: Executor,
    jsonl: Path | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    keep_rows: bool = False,
) -> ScanSummary:
    """Scan ``videos`` through ``executor``. Each row goes to ``on_row`` as it finishes and, with
    ``jsonl``, into that file (written beside it and published whole at the end: an interrupted scan
    leaves no half file). Returns counts by verdict and videos per minute of wall time."""
    started = time.perf_counter()
    verdicts: Counter[str] = Counter()
    errors = 0
    kept: list[dict[str, Any]] = []

    def rows() -> Iterator[dict[str, Any]]:
        for done in executor.map_unordered(functools.partial(scan_one, recipe), videos):
            yield done.value if done.error is None else error_row(done.item.location, done.error)

    def consume(write: Callable[[str], Any] | None) -> None:
        nonlocal errors
        for row in rows():
            verdicts[row["verdict"]] += 1
            errors += row["error"] is not None
            if write is not None:
                write(json.dumps(row, ensure_ascii=False) + "\n")
            if keep_rows:
                kept.append(row)
            if on_row is not None:
                on_row(row)

    if jsonl is not None:
        with atomic_output(jsonl) as tmp, open(tmp, "w", encoding="utf-8") as out:
            consume(out.write)
    else:
        consume(None)
    wall = time.perf_counter() - started
    return ScanSummary(
        videos=len(videos),
        by_verdict=dict(sorted(verdicts.items())),
        errors=errors,
        wall_s=round(wall, 2),
        videos_per_minute=round(60.0 * len(videos) / wall, 1) if wall > 0 else 0.0,
        executor=executor.describe(),
        rows=kept,
    )
