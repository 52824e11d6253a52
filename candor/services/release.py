"""The release path: frames -> invisible watermark -> MP4 -> signed C2PA credentials -> repository.

Every video Candor hands out leaves through here, whichever front door asked for it (the CLI's
``generate``/``demo`` or the API's generation jobs), so no output can skip the watermark or the
credentials. Like ``cli.py`` and ``api/``, this module composes areas (generator, provenance);
none of those imports it.

Data flows one way: frames are watermarked as they stream into the encoder (memory stays flat
in the video's length), the finished MP4 is signed into the destination through a temporary file
beside it and renamed only once signing succeeded, and the manifest is stored last.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from candor.config import Settings


@dataclass
class ReleaseResult:
    """What a released video is: where it is, its manifest, watermark serial and digest."""

    output_path: Path
    manifest_id: str
    serial: int
    frames: int
    fps: int
    duration_s: float
    sha256: str
    notes: list[str] = field(default_factory=list)


def _mime(path: Path, fallback: str) -> str:
    return mimetypes.guess_type(path.name)[0] or fallback


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release_frames(
    frames: Iterable[np.ndarray],
    *,
    out_path: str | Path,
    fps: int,
    settings: Settings,
    generation_id: str,
    partner_pseudonym: str,
    portrait: bytes,
    portrait_mime: str = "image/png",
    audio_path: str | Path | None = None,
    consent_id: str | None = None,
    controls: dict[str, Any] | None = None,
    model_checkpoint_sha256: str | None = None,
    serial: int | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> ReleaseResult:
    """Watermark, encode, sign and record a stream of (512, 512, 3) uint8 RGB frames.

    ``serial``: the watermark serial; allocated from the manifest repository when None.
    ``on_frame(n)`` is called after each frame is encoded (for progress bars and job progress).
    """
    from candor.generator.video import VideoWriter
    from candor.provenance.keys import ensure_keys
    from candor.provenance.manifest import GenerationClaim, SoftBinding, sign_video
    from candor.provenance.repository import ManifestRepository
    from candor.provenance.watermark import WatermarkEmbedder, WatermarkKey

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ensure_keys(settings)
    repository = ManifestRepository.from_settings(settings)
    try:
        if serial is None:
            serial = repository.allocate_serial(generation_id=generation_id)
        embedder = WatermarkEmbedder(WatermarkKey.from_settings(settings), serial)
        fd, unsigned = tempfile.mkstemp(suffix=".mp4", prefix=f".{out_path.stem}.unsigned.", dir=out_path.parent)
        os.close(fd)
        fd, signed_tmp = tempfile.mkstemp(suffix=".mp4", prefix=f".{out_path.stem}.signed.", dir=out_path.parent)
        os.close(fd)
        try:
            with VideoWriter(unsigned, fps=fps, audio_path=audio_path) as writer:
                for frame in frames:
                    writer.write(embedder.embed(frame))
                    if on_frame is not None:
                        on_frame(writer.frames_written)
            n_frames = writer.frames_written
            claim = GenerationClaim(
                generation_id=generation_id,
                partner_pseudonym=partner_pseudonym,
                consent_id=consent_id,
                controls=controls or {},
                model_checkpoint_sha256=model_checkpoint_sha256,
                title=out_path.name,
            )
            audio_bytes = Path(audio_path).read_bytes() if audio_path else None
            with open(unsigned, "rb") as src, open(signed_tmp, "w+b") as dst:
                signed = sign_video(
                    src,
                    dst,
                    claim=claim,
                    portrait=portrait,
                    portrait_mime=portrait_mime,
                    audio=audio_bytes,
                    audio_mime=_mime(Path(audio_path), "audio/wav") if audio_path else None,
                    binding=SoftBinding.for_serial(serial),
                    settings=settings,
                )
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(signed_tmp, 0o644)  # mkstemp makes 0600; a published video is world-readable
            os.replace(signed_tmp, out_path)
        finally:
            for leftover in (unsigned, signed_tmp):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        manifest_id = repository.store(signed)
    finally:
        repository.dispose()
    return ReleaseResult(
        output_path=out_path,
        manifest_id=manifest_id,
        serial=serial,
        frames=n_frames,
        fps=fps,
        duration_s=n_frames / fps,
        sha256=file_sha256(out_path),
    )


def release_generation(
    *,
    portrait_path: str | Path,
    audio_path: str | Path,
    out_path: str | Path,
    controls: Any,
    seed: int,
    fps: int,
    claim: dict[str, Any],
    serial: int | None,
    settings: Settings,
    progress: Callable[[float], None] | None = None,
    checkpoint: str | Path | None = None,
) -> ReleaseResult:
    """One generation job end to end: portrait + audio + controls -> released MP4.

    ``controls``: a :class:`candor.generator.controls.Controls`; ``claim``: ``generation_id``,
    ``partner`` (raw partner id, pseudonymised here with the service secret) or
    ``partner_pseudonym``, and ``consent_id``. ``progress(fraction)`` is called as frames are made.
    """
    import math

    from candor.generator.audio import SAMPLE_RATE, load_audio
    from candor.generator.face import analyze_image
    from candor.generator.motion_generator import DEFAULT_CHECKPOINT
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.provenance.manifest import pseudonymize_partner

    portrait_path, audio_path = Path(portrait_path), Path(audio_path)
    samples = load_audio(audio_path, settings.max_audio_seconds)
    analysis = analyze_image(portrait_path, max_megapixels=settings.max_image_megapixels)
    pipeline = TalkingFacePipeline.for_portrait(analysis, checkpoint)
    n_frames = max(1, math.ceil(len(samples) / SAMPLE_RATE * fps))
    frames = pipeline.frames(samples, controls, seed=seed, fps=fps)
    pseudonym = claim.get("partner_pseudonym") or pseudonymize_partner(str(claim["partner"]), settings.secret_key)
    used = {
        "gaze_yaw": controls.gaze_yaw,
        "gaze_pitch": controls.gaze_pitch,
        "distance": controls.distance,
        "emotion": controls.emotion,
        "intensity": controls.intensity,
        "seed": seed,
        "fps": fps,
    }
    return release_frames(
        frames,
        out_path=out_path,
        fps=fps,
        settings=settings,
        generation_id=str(claim["generation_id"]),
        partner_pseudonym=pseudonym,
        consent_id=claim.get("consent_id"),
        portrait=portrait_path.read_bytes(),
        portrait_mime=_mime(portrait_path, "image/png"),
        audio_path=audio_path,
        controls=used,
        model_checkpoint_sha256=file_sha256(Path(checkpoint or DEFAULT_CHECKPOINT)),
        serial=serial,
        on_frame=(lambda n: progress(min(1.0, n / n_frames))) if progress else None,
    )
