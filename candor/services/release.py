"""The release path: the ONE way a video leaves Candor.

frames (or an existing MP4) -> invisible watermark -> H.264/AAC MP4 -> signed C2PA credentials ->
manifest stored in the repository -> the file published atomically -> the release recorded in the
generation log. The CLI (`generate`, `animate`, `reenact`, `demo`, `sign`) and the service's
generation jobs all call :class:`Releaser`, which the container builds once per process; nothing
can skip the watermark, the credentials or the log.

Frames are watermarked as they stream into the encoder (memory stays flat in the video's length).
The manifest is stored before the signed file is renamed into place, so no signed output exists
without its manifest record. A job's release is recorded when the job is published (inside the
publishing transaction, see :mod:`candor.services.worker`); the CLI's at once, with the local
operator as the actor.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from candor.errors import InvalidInput
from candor.files import atomic_output, file_sha256, temp_path_beside
from candor.services.common import Stage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from candor.generator.controls import Controls
    from candor.provenance.manifest import GenerationClaim
    from candor.provenance.signer import ClaimSigner
    from candor.provenance.watermark import WatermarkKey
    from candor.services.common import EventLog
    from candor.services.generation_log import GenerationLog
    from candor.services.manifests import ManifestRepository

ENCODER_THREADS = 1  # x264's threads in the encoder process (see release_frames)
LOCAL_OPERATOR = "local-operator"  # the actor of releases made by the CLI on this machine
RELEASED_EVENT = "generation.completed"


@dataclass
class ReleaseResult:
    """What a released video is: where it is, its manifest, watermark serial and digest."""

    output_path: Path
    generation_id: str
    manifest_id: str
    serial: int
    frames: int
    fps: float
    duration_s: float
    sha256: str
    notes: list[str] = field(default_factory=list)


def record_release(
    log: EventLog,
    *,
    actor: str,
    generation_id: str,
    sha256: str,
    manifest_id: str | None,
    serial: int | None,
    session: Session | None = None,
) -> None:
    """Append a release to the generation log (no media, only digests and ids): inside ``session``'s
    transaction when given, else in a transaction of its own."""
    details = {"output_sha256": sha256, "manifest_id": manifest_id, "watermark_serial": serial}
    if session is None:
        log.append(RELEASED_EVENT, actor=actor, subject=generation_id, details=details)
    else:
        log.append_in(session, RELEASED_EVENT, actor=actor, subject=generation_id, details=details)


def media_type(path: Path, fallback: str | None = None) -> str:
    """The MIME type from the file name; ``fallback`` (or an InvalidInput) when it has none."""
    mime = mimetypes.guess_type(path.name)[0] or fallback
    if mime is None:
        raise InvalidInput(f"cannot tell the media type of {path}: use a usual extension (.png, .jpg, .wav...)")
    return mime


def _read_input(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}") from exc


class Releaser:
    """Watermarks, encodes, signs, stores and records. Built once per process by the container;
    ``signer`` and ``log`` are providers, called when a release first signs or is recorded."""

    def __init__(
        self,
        *,
        manifests: ManifestRepository,
        signer: Callable[[], ClaimSigner],
        watermark_key: WatermarkKey,
        log: Callable[[], GenerationLog],
        partner_secret: str,
        thumbnails: bool = False,
    ) -> None:
        self.manifests = manifests
        # Key material loads when first needed: a bad input fails as such, before any key is read.
        self._signer = signer
        self.watermark_key = watermark_key
        self._log = log
        self.partner_secret = partner_secret  # keys the partner pseudonyms in public manifests
        self.thumbnails = thumbnails

    def claim(
        self,
        *,
        generation_id: str,
        partner_id: str | None = None,
        consent_id: str | None = None,
        controls: dict[str, Any] | None = None,
        checkpoint: str | Path | None = None,
    ) -> GenerationClaim:
        """What the credentials will assert. ``partner_id`` is pseudonymised with the service secret
        (None: a release by the local CLI); ``checkpoint``: the motion model whose digest is named."""
        from candor.provenance.manifest import GenerationClaim, pseudonymize_partner

        return GenerationClaim(
            generation_id=generation_id,
            partner_pseudonym=pseudonymize_partner(partner_id, self.partner_secret) if partner_id else "local-cli",
            consent_id=consent_id,
            controls=controls or {},
            model_checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        )

    # -- the three kinds of input ------------------------------------------------------------------

    def release_frames(
        self,
        frames: Iterable[np.ndarray],
        *,
        out_path: str | Path,
        fps: float,
        claim: GenerationClaim,
        portrait: bytes,
        portrait_mime: str = "image/png",
        audio_path: str | Path | None = None,
        serial: int | None = None,
        on_frame: Callable[[int], None] | None = None,
    ) -> ReleaseResult:
        """Watermark, encode, sign and store a stream of (512, 512, 3) uint8 RGB frames into
        ``out_path``. ``serial``: the watermark serial, allocated when None; ``on_frame(n)`` is called
        on the caller's thread as the n-th frame is handed to the encoder. The caller records the
        result (:meth:`record`)."""
        from candor.generator.encoder import EncoderProcess
        from candor.provenance.watermark import WatermarkEmbedder

        out_path = Path(out_path)
        claim = replace(claim, title=out_path.name)
        if serial is None:
            serial = self.manifests.allocate_serial(generation_id=claim.generation_id)
        embedder = WatermarkEmbedder(self.watermark_key, serial)
        unsigned = temp_path_beside(out_path)
        try:
            # x264 in a process of its own, on one thread: the process is the parallelism (rendering
            # holds the other core), and x264's frame threads only competed with the renderer for the
            # two cores (warm, 60 s clip: 159-162 frames/s against 140-141; benchmarks/generate_release.py).
            with EncoderProcess(unsigned, fps=fps, audio_path=audio_path, threads=ENCODER_THREADS) as writer:
                # Each frame is marked on the caller's thread as soon as it is rendered (it is still in
                # the core's cache) and handed to the encoder's ring; motion and x264 keep the other
                # core busy. A marking thread of its own made a fourth runnable thread on two cores:
                # 1.4 ms more CPU a frame, 5 % fewer frames/s (A/B in one process, 30 s clips, 4 rounds).
                for n, frame in enumerate(frames, 1):
                    writer.write(embedder.embed(frame))
                    if on_frame is not None:
                        on_frame(n)
            n_frames = writer.frames_written
            audio = Path(audio_path) if audio_path else None
            manifest_id = self._sign_and_publish(
                unsigned, out_path, claim=claim, serial=serial, portrait=portrait, portrait_mime=portrait_mime,
                audio=_read_input(audio, "audio") if audio else None,
                audio_mime=media_type(audio, "audio/wav") if audio else None,
            )  # fmt: skip
        finally:
            unsigned.unlink(missing_ok=True)
        return self._result(out_path, claim, manifest_id, serial, n_frames, fps)

    def release_file(
        self,
        video: Path,
        out_path: Path,
        *,
        claim: GenerationClaim,
        portrait: Path,
        audio: Path | None,
        crf: int = 18,
    ) -> ReleaseResult:
        """Credentials for an MP4 made elsewhere (`candor sign`): watermark it with a fresh serial
        (re-encoding at ``crf``), sign, store the manifest, publish ``out_path``."""
        from candor.generator.video import probe
        from candor.provenance.watermark import embed_video

        video, out_path = Path(video), Path(out_path)
        claim = replace(claim, title=out_path.name)
        if not video.is_file():
            raise InvalidInput(f"no such video: {video}")
        portrait_bytes = _read_input(portrait, "portrait")
        audio_bytes = _read_input(audio, "audio") if audio is not None else None
        serial = self.manifests.allocate_serial(generation_id=claim.generation_id)
        marked = temp_path_beside(out_path)
        try:
            embed_video(str(video), str(marked), self.watermark_key, serial, crf=crf)
            info = probe(marked)
            manifest_id = self._sign_and_publish(
                marked, out_path, claim=claim, serial=serial, portrait=portrait_bytes,
                portrait_mime=media_type(portrait), audio=audio_bytes,
                audio_mime=media_type(audio) if audio is not None else None,
            )  # fmt: skip
        finally:
            marked.unlink(missing_ok=True)
        return self._result(out_path, claim, manifest_id, serial, info.frames, info.fps)

    def release_generation(
        self,
        *,
        portrait_path: str | Path,
        audio_path: str | Path,
        out_path: str | Path,
        controls: Controls,
        seed: int,
        fps: int,
        claim: GenerationClaim,
        max_audio_seconds: float,
        max_image_megapixels: float,
        serial: int | None = None,
        progress: Callable[[float], None] | None = None,
        checkpoint: str | Path | None = None,
    ) -> ReleaseResult:
        """One generation job end to end: portrait + audio + controls -> released MP4.
        ``progress(fraction)`` is called as frames are made."""
        from candor.generator.audio import frame_count, load_audio
        from candor.generator.face import analyze_image
        from candor.generator.pipeline import TalkingFacePipeline

        portrait_path, audio_path = Path(portrait_path), Path(audio_path)
        samples = load_audio(audio_path, max_audio_seconds)
        analysis = analyze_image(portrait_path, max_megapixels=max_image_megapixels)
        pipeline = TalkingFacePipeline.for_portrait(analysis, checkpoint)
        n_frames = frame_count(len(samples), fps)  # for progress; the pipeline decides the exact count
        return self.release_frames(
            pipeline.frames(samples, controls, seed=seed, fps=fps),
            out_path=out_path,
            fps=fps,
            claim=claim,
            portrait=portrait_path.read_bytes(),
            portrait_mime=media_type(portrait_path, "image/png"),
            audio_path=audio_path,
            serial=serial,
            on_frame=(lambda n: progress(min(1.0, n / n_frames))) if progress else None,
        )

    def open_live(
        self,
        *,
        out_path: str | Path,
        fps: int,
        claim: GenerationClaim,
        portrait: bytes,
        portrait_mime: str,
        audio_path: Path,
        audio_rate: int,
        serial: int,
    ) -> LiveRecording:
        """A live session's recording: :meth:`LiveRecording.mark` watermarks each frame once (the
        caller streams that frame and the recording encodes it); :meth:`LiveRecording.finish`
        muxes the mono PCM audio written meanwhile to ``audio_path`` (``audio_rate`` Hz), signs
        and stores the manifest, and publishes ``out_path``, like :meth:`release_frames`."""
        return LiveRecording(self, Path(out_path), fps, replace(claim, title=Path(out_path).name),
                             portrait, portrait_mime, Path(audio_path), audio_rate, serial)  # fmt: skip

    # -- recording ---------------------------------------------------------------------------------

    def record(self, result: ReleaseResult, *, actor: str = LOCAL_OPERATOR) -> None:
        """Append the release to the generation log in a transaction of its own (the CLI's releases;
        a job's is recorded as it is published, see :func:`candor.services.worker.publish_job`)."""
        record_release(
            self._log(),
            actor=actor,
            generation_id=result.generation_id,
            sha256=result.sha256,
            manifest_id=result.manifest_id,
            serial=result.serial,
        )

    # -- shared steps ------------------------------------------------------------------------------

    def _sign_and_publish(
        self,
        unsigned: Path,
        out_path: Path,
        *,
        claim: GenerationClaim,
        serial: int,
        portrait: bytes,
        portrait_mime: str,
        audio: bytes | None,
        audio_mime: str | None,
    ) -> str:
        """Sign ``unsigned`` into ``out_path`` (complete or absent), storing the manifest first."""
        from candor.provenance.manifest import SoftBinding, sign_video

        with atomic_output(out_path) as signed_tmp:
            with unsigned.open("rb") as src, signed_tmp.open("w+b") as dst:
                signed = sign_video(
                    src, dst, claim=claim, portrait=portrait, portrait_mime=portrait_mime, audio=audio,
                    audio_mime=audio_mime, binding=SoftBinding.for_serial(serial), signer=self._signer(),
                    thumbnails=self.thumbnails,
                )  # fmt: skip
            return self.manifests.store(signed)

    @staticmethod
    def _result(
        out_path: Path, claim: GenerationClaim, manifest_id: str, serial: int, frames: int, fps: float
    ) -> ReleaseResult:
        return ReleaseResult(
            output_path=out_path,
            generation_id=claim.generation_id,
            manifest_id=manifest_id,
            serial=serial,
            frames=frames,
            fps=fps,
            duration_s=frames / fps if fps else 0.0,
            sha256=file_sha256(out_path),
        )


class LiveRecording:
    """Frames in as a live session makes them, one watermarked H.264 file out (see
    :meth:`Releaser.open_live`); memory stays flat in the session's length."""

    def __init__(
        self,
        releaser: Releaser,
        out_path: Path,
        fps: int,
        claim: GenerationClaim,
        portrait: bytes,
        portrait_mime: str,
        audio_path: Path,
        audio_rate: int,
        serial: int,
    ) -> None:
        from candor.generator.video import VideoWriter
        from candor.provenance.watermark import WatermarkEmbedder

        self.releaser, self.out_path, self.fps, self.claim, self.serial = releaser, out_path, fps, claim, serial
        self.portrait, self.portrait_mime, self.audio_path = portrait, portrait_mime, audio_path
        self._embedder = WatermarkEmbedder(releaser.watermark_key, serial)
        self._unsigned = temp_path_beside(out_path)
        # One x264 thread: the recording only has to keep up, and x264's own pool (3 threads and a
        # lookahead on 2 cores) competed with the frames the client is waiting for.
        self._writer = VideoWriter(self._unsigned, fps=fps, audio_path=audio_path, audio_rate=audio_rate, threads=1)
        self._writer.__enter__()
        # x264 runs beside the caller (which is streaming the same frames meanwhile).
        self._encoder = Stage(self._writer.write, name=f"live-x264-{serial}")
        self._open = True

    @property
    def frames(self) -> int:
        return self._writer.frames_written

    def mark(self, frame: np.ndarray) -> np.ndarray:
        """Watermark one (512, 512, 3) uint8 RGB frame, encode it, and return the marked frame."""
        marked = self._embedder.embed(frame)
        self._encoder.put(marked)
        return marked

    def finish(self) -> ReleaseResult:
        """Close the file with its audio (trimmed to the frames), sign, store the manifest, publish."""
        self._open = False
        try:
            try:
                self._encoder.close()
            except BaseException as exc:
                self._writer.__exit__(type(exc), exc, None)
                raise
            self._writer.__exit__(None, None, None)
            manifest_id = self.releaser._sign_and_publish(
                self._unsigned, self.out_path, claim=self.claim, serial=self.serial, portrait=self.portrait,
                portrait_mime=self.portrait_mime, audio=_read_input(self.audio_path, "audio"), audio_mime="audio/wav",
            )  # fmt: skip
            n = self._writer.frames_written
        finally:
            self._unsigned.unlink(missing_ok=True)
        return self.releaser._result(self.out_path, self.claim, manifest_id, self.serial, n, self.fps)

    def abort(self) -> None:
        """Drop the recording (nothing is signed or published)."""
        if self._open:
            self._open = False
            try:
                with contextlib.suppress(Exception):  # the recording is dropped whatever went wrong
                    self._encoder.close()
                self._writer.__exit__(RuntimeError, RuntimeError("aborted"), None)
            finally:
                self._unsigned.unlink(missing_ok=True)
