"""Live sessions (``/v1/live``): audio streams in, watermarked frames stream out, and the session
is recorded, signed and logged as a generation when it ends.

The order of things, as for a generation job, only continuous:

1. ``open``: the start message's consent and portrait are the partner's, the policy allows them
   (the first second of quota is reserved), a generation id and a watermark serial are
   allocated and ``generation.requested`` is logged; the portrait is analysed.
2. Audio (PCM16 mono at one of ``ACCEPTED_RATES``) is resampled to 16 kHz, written to the
   recording's WAV and pushed into the live motion stream
   (:class:`candor.generator.live.MotionStream`). Each second of audio reserves one more second
   of quota and re-checks the gate (partner approved, key and consent not revoked), so a
   suspension or revocation stops a session within a second.
3. Each frame is watermarked once (:meth:`Releaser.open_live`), encoded into the recording and
   sent as JPEG behind a 12-byte header (``FRAME_HEADER``: b"CNDF", frame index, start time in ms).
4. At the end (an ``end`` message, a disconnect, a policy stop) the recording gets the audio,
   C2PA credentials and its manifest record; the audio asset, the ``generations`` row (status
   ``succeeded``) and the ``generation.completed`` entry are committed together, and unused quota
   is given back. A recording whose gate fell during the session is not kept (status ``failed``);
   its manifest stays in the repository so the frames already streamed still resolve.

One worker thread per session does steps 2-4 in order (frames are rendered and encoded on stages
beside it); the route only moves messages.

Why over 400 lines: the protocol's messages, the session's policy and quota checks and its
recording are one sequence, read top to bottom here rather than split into modules that only make
sense together.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from candor.errors import CandorError, InvalidInput, QuotaExceeded
from candor.generator.controls import CONTROL_NAMES, DEFAULT_FPS, SAMPLE_RATE, Controls
from candor.policy import evaluate
from candor.services.common import EventLog, Stage, get_owned
from candor.services.consents import add_audio_asset
from candor.services.generations import MAX_SEED, GenerationRequest, policy_facts, record_denial
from candor.services.quota import month_of, quota_limit, quota_used, reserve_quota
from candor.services.release import record_release
from candor.services.worker import gate_refusal
from candor.store.models import Consent, Generation, Partner, Portrait, QuotaUsage, new_id, utcnow

if TYPE_CHECKING:
    from candor.policy import Policy
    from candor.services.release import LiveRecording, Releaser
    from candor.store.filestore import FileStore

ACCEPTED_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)  # Hz of the PCM16 mono the client sends
QUOTA_BLOCK_S = 1.0  # seconds of quota reserved at a time (and how often the gate is re-checked)
MAX_CHUNK_BYTES = 256 * 1024  # one audio message: 2.7 s at 48 kHz
FRAME_MAGIC = b"CNDF"
FRAME_HEADER = struct.Struct(">4sII")  # magic, frame index, frame start time in ms; JPEG bytes follow
JPEG_QUALITY = 90
FPS = DEFAULT_FPS

# WebSocket close codes: 1000 recorded, 1003 a message of the wrong kind, 1007 malformed data,
# 1009 a message too big, 1011 a server fault; 4000 + the HTTP status the same problem gets over
# HTTP (4401 no or bad key, 4403 forbidden or a policy rule, 4404 unknown consent/portrait,
# 4408 idle, 4422 invalid start or controls, 4429 rate limited).
CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_INVALID, CLOSE_TOO_BIG, CLOSE_SERVER = 1000, 1003, 1007, 1009, 1011
CLOSE_IDLE = 4408


class ProtocolError(Exception):
    """A message that breaks the protocol: the socket closes with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Close:
    """The last thing a session emits: close the socket with this code and reason."""

    code: int
    reason: str


def close_for(exc: BaseException) -> Close:
    """The close code and reason for an error (a CandorError: 4000 + its HTTP status)."""
    if isinstance(exc, ProtocolError):
        return Close(exc.code, exc.reason)
    if isinstance(exc, CandorError) and 400 <= exc.status < 500:
        rule = getattr(exc, "rule_id", None)
        return Close(4000 + exc.status, f"{rule}: {exc.detail}" if rule else str(exc.detail))
    return Close(CLOSE_SERVER, "internal error; the session was not recorded")


def parse_controls(value: Any) -> Controls:
    """A controls object (gaze_yaw, gaze_pitch in degrees, distance, emotion, intensity) or InvalidInput."""
    if not isinstance(value, dict):
        raise InvalidInput("controls must be an object")
    unknown = set(value) - set(CONTROL_NAMES)
    if unknown:
        raise InvalidInput(f"unknown control(s) {sorted(unknown)}; allowed: {sorted(CONTROL_NAMES)}")
    numeric = {k: v for k, v in value.items() if k != "emotion"}
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numeric.values()):
        raise InvalidInput("gaze_yaw, gaze_pitch, distance and intensity must be numbers")
    if "emotion" in value and not isinstance(value["emotion"], str):
        raise InvalidInput("emotion must be a string")
    return Controls(**value)


@dataclass(frozen=True)
class LiveStart:
    """The start message: ``{"type": "start", "consent_id", "portrait_id", "sample_rate",
    "controls"?, "seed"?, "use"?}`` (plus ``api_key`` when the key comes in the message)."""

    consent_id: str
    portrait_id: str
    sample_rate: int
    controls: Controls
    seed: int = 0
    use: str | None = None

    @classmethod
    def parse(cls, message: dict[str, Any]) -> LiveStart:
        if message.get("type") != "start":
            raise ProtocolError(CLOSE_UNSUPPORTED, 'the first message must be {"type": "start", ...}')
        known = {"type", "api_key", "consent_id", "portrait_id", "sample_rate", "controls", "seed", "use"}
        if set(message) - known:
            raise InvalidInput(f"unknown start field(s) {sorted(set(message) - known)}")
        ids = message.get("consent_id"), message.get("portrait_id")
        if not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids):
            raise InvalidInput("consent_id and portrait_id are required strings")
        rate, seed, use = message.get("sample_rate"), message.get("seed", 0), message.get("use")
        if isinstance(rate, bool) or rate not in ACCEPTED_RATES:
            raise InvalidInput(f"sample_rate must be one of {', '.join(map(str, ACCEPTED_RATES))} (Hz)")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise InvalidInput(f"seed must be an integer within 0-{MAX_SEED}")
        if use is not None and (not isinstance(use, str) or not 0 < len(use) <= 64):
            raise InvalidInput("use must be a short string")
        return cls(ids[0], ids[1], int(rate), parse_controls(message.get("controls", {})), seed, use)


def parse_text(text: str) -> dict[str, Any]:
    """A JSON object message, or a ProtocolError (1007)."""
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError(CLOSE_INVALID, "text messages must be JSON objects") from None
    if not isinstance(message, dict):
        raise ProtocolError(CLOSE_INVALID, "text messages must be JSON objects")
    return message


def encode_frame(index: int, pts_ms: int, jpeg: bytes) -> bytes:
    return FRAME_HEADER.pack(FRAME_MAGIC, index, pts_ms) + jpeg


def decode_frame(data: bytes) -> tuple[int, int, bytes]:
    """(frame index, start time in ms, JPEG bytes) of a frame message."""
    magic, index, pts_ms = FRAME_HEADER.unpack_from(data)
    if magic != FRAME_MAGIC:
        raise ValueError("not a Candor live frame")
    return index, pts_ms, data[FRAME_HEADER.size :]


Emit = Callable[[bytes | dict[str, Any] | Close], None]


class LiveSession:
    """One live session. ``open()`` (blocking: policy, analysis) then feed ``audio``/``controls``/
    ``end`` from the socket; everything the session sends goes to ``emit`` from its worker thread,
    ending with a :class:`Close`."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        log: EventLog,
        policy: Policy,
        files: FileStore,
        releaser: Releaser,
        partner: Partner,
        api_key_id: str | None,
        start: LiveStart,
        emit: Emit,
        max_image_megapixels: float,
    ) -> None:
        self.sessions, self.log, self.policy, self.files, self.releaser = sessions, log, policy, files, releaser
        self.partner_id, self.api_key_id, self.start, self.emit = partner.id, api_key_id, start, emit
        self.max_image_megapixels = max_image_megapixels
        self.generation_id = new_id("gen")
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"live-{self.generation_id}")
        self._seconds = 0.0  # audio received (s)
        self._reserved = 0.0  # quota reserved (s)
        self._frames = 0
        self._stop: tuple[str, str] | None = None  # (rule id, reason) once a policy stopped the session
        self._changes: list[dict[str, Any]] = []
        self._work: Path | None = None
        self._recording: LiveRecording | None = None

    # -- step 1 ----------------------------------------------------------------------------------

    def open(self) -> dict[str, Any]:
        """Check, reserve, log and prepare; returns the ``ready`` message. Raises NotFound,
        InvalidInput, PolicyDenied (logged and committed first) or an image error."""
        from candor.generator.face import analyze_image
        from candor.generator.live import MotionStream
        from candor.generator.pipeline import TalkingFacePipeline

        start, now = self.start, utcnow()
        self.started_at = now
        with self.sessions() as session:
            partner = session.get(Partner, self.partner_id)
            assert partner is not None
            consent = get_owned(session, Consent, partner, start.consent_id, "consent")
            portrait = get_owned(session, Portrait, partner, start.portrait_id, "portrait")
            request = GenerationRequest(consent.id, portrait.id, "live", start.controls.as_dict(), start.seed, FPS,
                                        use=start.use)  # fmt: skip
            month, limit_s = month_of(now), quota_limit(partner, self.policy)
            used_s = quota_used(session=session, partner_id=partner.id, month=month)
            facts = policy_facts(partner, consent, portrait, request, QUOTA_BLOCK_S, used_s, limit_s, now)
            decision = evaluate(facts, self.policy)
            summary = {"consent": consent.id, "portrait": portrait.id, "audio_sha256": None,
                       "duration_s": QUOTA_BLOCK_S, "fps": FPS, "use": facts.request.use, "live": True}  # fmt: skip
            if decision.allowed and not reserve_quota(session, partner.id, month, QUOTA_BLOCK_S, limit_s):
                session.rollback()
                record_denial(session, self.log, partner, summary, decision.as_dict(), "quota.remaining")
                raise QuotaExceeded(f"denied by policy rule quota.remaining: monthly quota of {limit_s:.0f} s used up")
            if not decision.allowed:
                record_denial(session, self.log, partner, summary, decision.as_dict(), decision.rule_id)
                decision.raise_if_denied()
            self._reserved, self._month, self._limit_s = QUOTA_BLOCK_S, month, limit_s
            self.use, self.checks = facts.request.use, [c.as_dict() for c in decision.checks]
            self.log.append_in(session, "generation.requested", actor=partner.id, subject=self.generation_id,
                               details={**summary, "seed": start.seed, "controls": start.controls.as_dict(),
                                        "checks": [c.rule_id for c in decision.checks]})  # fmt: skip
            session.commit()
            portrait_sha256, portrait_mime = portrait.image_sha256, portrait.media_type
        self.serial = self.releaser.manifests.allocate_serial(generation_id=self.generation_id)
        portrait_bytes = self.files.read_bytes(portrait_sha256)  # any backend: local disk or object store
        analysis = analyze_image(portrait_bytes, max_megapixels=self.max_image_megapixels)
        self.pipeline = TalkingFacePipeline.for_portrait(analysis, _checkpoint())
        self.motion = MotionStream(self.pipeline.generator, start.controls, start.seed)
        self._work = self.files.work_dir(f"live-{self.generation_id}-")
        self._open_audio()
        claim = self.releaser.claim(
            generation_id=self.generation_id, partner_id=self.partner_id, consent_id=start.consent_id,
            controls=start.controls.as_record(seed=start.seed, fps=FPS), checkpoint=_checkpoint(),
        )  # fmt: skip
        self._recording = self.releaser.open_live(
            out_path=self._work / "recording.mp4", fps=FPS, claim=claim, portrait=portrait_bytes,
            portrait_mime=portrait_mime,
            audio_path=self._wav_path, audio_rate=SAMPLE_RATE, serial=self.serial,
        )  # fmt: skip
        self._render = Stage(self._send, name=f"live-render-{self.generation_id}")
        self._thread.start()
        return {
            "type": "ready", "generation_id": self.generation_id, "watermark_serial": self.serial, "fps": FPS,
            "sample_rate": start.sample_rate,
            "frame_header": "b'CNDF', uint32 frame index, uint32 start ms (big-endian), then JPEG",
            "quota_remaining_s": round(self._limit_s - used_s - QUOTA_BLOCK_S, 3),
        }  # fmt: skip

    def _open_audio(self) -> None:
        import soundfile as sf
        import soxr

        assert self._work is not None
        self._wav_path = self._work / "audio.wav"
        self._wav = sf.SoundFile(self._wav_path, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16")
        self._resampler = (
            soxr.ResampleStream(self.start.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            if self.start.sample_rate != SAMPLE_RATE
            else None
        )

    # -- what the socket hands in (any thread) -----------------------------------------------------

    def audio(self, data: bytes) -> None:
        """One binary message: PCM16 little-endian mono samples at the start's rate."""
        if len(data) > MAX_CHUNK_BYTES:
            raise ProtocolError(CLOSE_TOO_BIG, f"audio messages are at most {MAX_CHUNK_BYTES} bytes")
        if len(data) % 2:
            raise ProtocolError(CLOSE_INVALID, "audio must be whole 16-bit samples (an even number of bytes)")
        self._inbox.put(("audio", np.frombuffer(data, "<i2")))

    def text(self, message: dict[str, Any]) -> bool:
        """A JSON message after the start: ``controls`` or ``end``; True once the session has ended."""
        kind = message.get("type")
        if kind == "controls":
            self._inbox.put(("controls", parse_controls(message.get("controls"))))
            return False
        if kind == "end":
            self.end()
            return True
        raise ProtocolError(CLOSE_UNSUPPORTED, f"unknown message type {kind!r}; expected controls or end")

    def end(self, close: Close | None = None) -> None:
        """No more input: record what was streamed, then close normally or with ``close`` (an error
        the socket saw: a bad message, an idle client)."""
        self._inbox.put(("end", close))

    def disconnected(self) -> None:
        """The client went away: record what was streamed, send nothing more."""
        self._inbox.put(("end", "gone"))

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- steps 2-4, on the session's thread --------------------------------------------------------

    def _run(self) -> None:
        ending: Close | str | None = None
        try:
            while True:
                kind, value = self._inbox.get()
                if kind == "end":
                    ending = value
                    break
                if kind == "audio" and self._stop is None:
                    self._on_audio(value)
                elif kind == "controls":
                    self.motion.set_controls(value)
                    self._changes.append({"frame": self.motion.frames_out, **value.as_dict()})
                    self.emit({"type": "controls", "from_frame": self.motion.frames_out, "controls": value.as_dict()})
            self._finish(ending)
        except BaseException as exc:  # reported to the client as a close; the recording is dropped
            with contextlib.suppress(Exception):
                self._render.close()
            if self._recording is not None:
                self._recording.abort()
            self._cleanup()
            self.emit(close_for(exc))
            if not isinstance(exc, CandorError | ProtocolError):
                raise

    def _on_audio(self, pcm: np.ndarray) -> None:
        x = pcm.astype(np.float32) / 32768.0
        seconds = self._seconds + len(x) / self.start.sample_rate
        if seconds > self._reserved + 1e-6 and not self._extend(seconds):  # (sums of chunk lengths round)
            return
        self._seconds = seconds
        y = self._resampler.resample_chunk(x) if self._resampler is not None else x
        self._wav.write(y)
        for vector in self.motion.push(y):
            self._render.put(vector)

    def _extend(self, seconds: float) -> bool:
        """Reserve quota up to ``seconds`` (whole blocks) after re-checking the gate; False (and the
        session stops) when the gate fell, the quota ran out or the session reached its maximum."""
        blocks = np.ceil((seconds - self._reserved) / QUOTA_BLOCK_S) * QUOTA_BLOCK_S
        with self.sessions() as session:
            refusal = gate_refusal(session, self._row(), lock=False)
            if refusal is not None:
                self._stop = ("gate", refusal)
            elif self._reserved + blocks > self.policy.max_duration_s + 1e-9:
                self._stop = ("request.duration_max", f"a session lasts at most {self.policy.max_duration_s:.0f} s")
            elif not reserve_quota(session, self.partner_id, self._month, float(blocks), self._limit_s):
                self._stop = ("quota.remaining", f"monthly quota of {self._limit_s:.0f} s used up")
            else:
                self._reserved += float(blocks)
            session.commit()
        if self._stop is not None:
            self.emit({"type": "stopped", "rule_id": self._stop[0], "detail": self._stop[1]})
        return self._stop is None

    def _send(self, vector: np.ndarray) -> None:
        """Render, mark, encode and send one frame on the render stage (beside the motion)."""
        import cv2

        assert self._recording is not None
        marked = self._recording.mark(self.pipeline.render(vector))
        ok, jpeg = cv2.imencode(".jpg", marked[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
        self.emit(encode_frame(self._frames, round(1000 * self._frames / FPS), jpeg.tobytes()))
        self._frames += 1

    def _finish(self, ending: Close | str | None) -> None:
        assert self._recording is not None
        if self._resampler is not None and self._seconds:
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            self._wav.write(tail)
        if self._seconds:
            for vector in self.motion.finish():
                self._render.put(vector)
        self._render.close()
        self._wav.close()
        if self._frames == 0:  # nothing left the building: nothing to record, no quota spent
            self._recording.abort()
            with self.sessions() as session:
                self._give_back(session)
                self.log.append_in(session, "live.ended", actor=self.partner_id, subject=self.generation_id,
                                   details={"seconds": 0.0, "frames": 0, "recorded": False})  # fmt: skip
                session.commit()
            self._cleanup()
            if ending != "gone":
                self.emit(ending if isinstance(ending, Close) else close_for(InvalidInput("no audio was streamed")))
            return
        result = self._recording.finish()
        summary = self._publish(result)
        if ending != "gone":
            self.emit(summary)
            stop = self._stop
            if isinstance(ending, Close):
                self.emit(ending)
            else:
                self.emit(Close(CLOSE_NORMAL, "recorded") if stop is None else Close(4403, f"{stop[0]}: {stop[1]}"))

    def _publish(self, result: Any) -> dict[str, Any]:
        """Commit the audio asset, the generation row and its release entry together; give back the
        quota not streamed. A gate that fell meanwhile keeps the row (failed) and drops the file."""
        try:
            with self.sessions() as session:
                partner = session.get(Partner, self.partner_id)
                assert partner is not None
                asset = add_audio_asset(session=session, files=self.files, partner=partner,
                                        data=self._wav_path.read_bytes(), media_type="audio/wav",
                                        duration_s=self._seconds)  # fmt: skip
                row = self._row(audio_asset_id=asset.id)
                refusal = gate_refusal(session, row, lock=True)
                self._give_back(session)
                row.finished_at = utcnow()
                if refusal is None:
                    stored = self.files.put_file(result.output_path, move=True)
                    row.status, row.progress = "succeeded", 1.0
                    row.output_sha256, row.output_size_bytes = stored.sha256, stored.size
                    row.manifest_id = result.manifest_id
                else:
                    row.status, row.error = "failed", f"stopped: {refusal}"
                session.add(row)
                session.flush()
                self.log.append_in(session, "live.ended", actor=self.partner_id, subject=self.generation_id,
                                   details={"seconds": round(self._seconds, 3), "frames": result.frames,
                                            "control_changes": self._changes,
                                            "stopped": None if self._stop is None else self._stop[0]})  # fmt: skip
                if refusal is None:
                    record_release(
                        self.log, session=session, actor=self.partner_id, generation_id=self.generation_id,
                        sha256=result.sha256, manifest_id=result.manifest_id, serial=result.serial,
                    )  # fmt: skip
                session.commit()
        finally:
            self._cleanup()
        return {
            "type": "recorded", "generation_id": self.generation_id, "status": row.status,
            "manifest_id": result.manifest_id, "watermark_serial": result.serial, "sha256": result.sha256,
            "frames": result.frames, "duration_s": round(self._seconds, 3),
            "video": f"/v1/generations/{self.generation_id}/video" if refusal is None else None,
        }  # fmt: skip

    def _give_back(self, session: Session) -> None:
        """Return the reserved quota that was not streamed (the last block's remainder)."""
        unused = max(0.0, self._reserved - self._seconds)
        session.execute(
            update(QuotaUsage)
            .where(QuotaUsage.partner_id == self.partner_id, QuotaUsage.month == self._month)
            .values(seconds=QuotaUsage.seconds - unused)
        )

    def _row(self, audio_asset_id: str | None = None) -> Generation:
        s = self.start
        return Generation(
            id=self.generation_id, partner_id=self.partner_id, api_key_id=self.api_key_id, consent_id=s.consent_id,
            portrait_id=s.portrait_id, audio_asset_id=audio_asset_id, controls=s.controls.as_dict(), seed=s.seed,
            fps=FPS, width=512, height=512, use=getattr(self, "use", ""), status="running",
            duration_s=self._seconds, policy_checks=getattr(self, "checks", []), created_at=self.started_at,
            started_at=self.started_at, manifest_id=None, watermark_serial=getattr(self, "serial", None),
        )  # fmt: skip

    def _cleanup(self) -> None:
        if getattr(self, "_wav", None) is not None and not self._wav.closed:
            self._wav.close()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None


def _checkpoint() -> Path:
    from candor.generator.motion_generator import DEFAULT_CHECKPOINT

    return DEFAULT_CHECKPOINT
