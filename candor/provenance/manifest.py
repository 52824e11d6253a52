"""The C2PA manifest Candor signs into every MP4 it releases, and the c2pa contexts that read it.

One manifest says: created by a trained algorithm (IPTC ``trainedAlgorithmicMedia``) with Candor
<version> and a model checkpoint hash; from this portrait and this audio (``inputTo`` ingredients);
watermarked, with the watermark's value as a ``c2pa.soft-binding`` so a stripped copy leads back to
the manifest; and a ``com.candor.generation`` assertion (generation id, pseudonymous partner,
consent id, controls). It is signed from streams: no temp files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from candor import __version__
from candor.errors import InvalidInput, InvalidVideo, SigningFailed, TimestampAuthorityUnavailable
from candor.provenance.keys import check_signing_certificate, fingerprint
from candor.provenance.signer import ClaimSigner

if TYPE_CHECKING:
    import c2pa

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_ASSERTION = "com.candor.generation"
SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
VIDEO_MIME = "video/mp4"
MANIFEST_MIME = "application/c2pa"
_CHECKPOINT_FIELD = "com.candor.checkpoint_sha256"


def pseudonymize_partner(partner_id: str, secret: str) -> str:
    """A stable partner pseudonym for public manifests: HMAC-SHA256(secret, id), 24 hex chars.

    Only the service (which holds ``secret``, the service secret key) can link it to a partner.
    """
    digest = hmac.new(secret.encode(), partner_id.encode(), hashlib.sha256).hexdigest()
    return f"pp_{digest[:24]}"


@dataclass(frozen=True)
class GenerationClaim:
    """What Candor asserts about one generation (all of it goes into the signed manifest)."""

    generation_id: str
    partner_pseudonym: str  # see pseudonymize_partner: never a raw partner id
    consent_id: str | None
    controls: Mapping[str, Any] = field(default_factory=dict)  # JSON-able controls used (emotion, gaze...)
    model_checkpoint_sha256: str | None = None
    title: str = "candor.mp4"

    def assertion_data(self) -> dict[str, Any]:
        try:
            controls = json.dumps(dict(self.controls), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"generation controls must be plain JSON values: {exc}") from exc
        data = {
            "generation_id": self.generation_id,
            "partner": self.partner_pseudonym,
            "consent_id": self.consent_id,
            # c2pa-rs 0.91 turns JSON arrays of numbers into byte strings (floats vanish), so the
            # controls travel as one canonical JSON string.
            "controls": controls,
            "model_checkpoint_sha256": self.model_checkpoint_sha256,
        }
        return data


@dataclass(frozen=True)
class SoftBinding:
    """The watermark as a C2PA soft binding: algorithm id, binding value, and where it applies."""

    alg: str  # the watermark's id (candor.provenance.watermark.WATERMARK_ALG)
    value: str  # binding_value(serial): what the Soft Binding Resolution API is queried with
    serial: int | None = None  # the watermark serial it encodes (None for a foreign binding)
    start_ms: int = 0
    end_ms: int | None = None  # None: the whole video (probed when signing)

    @classmethod
    def for_serial(cls, serial: int, *, end_ms: int | None = None) -> SoftBinding:
        """The binding for Candor's watermark carrying ``serial``."""
        from candor.provenance.watermark import WATERMARK_ALG, binding_value

        return cls(alg=WATERMARK_ALG, value=binding_value(serial), serial=serial, end_ms=end_ms)

    def assertion_data(self, duration_ms: int) -> dict[str, Any]:
        end = self.end_ms if self.end_ms is not None else duration_ms
        return {
            "alg": self.alg,
            "blocks": [{"scope": {"timespan": {"start": self.start_ms, "end": end}}, "value": self.value}],
            "name": "Candor invisible video watermark (luma, every frame)",
            "pad": [],
        }


@dataclass(frozen=True)
class SignedManifest:
    """What signing produced: the manifest store bytes and what the repository indexes."""

    manifest_id: str  # the active manifest label, urn:c2pa:<uuid>
    manifest_store: bytes  # application/c2pa JUMBF, as embedded in the MP4
    claim: GenerationClaim
    binding: SoftBinding
    signer_fingerprint: str  # SHA-256 of the leaf certificate (hex)
    signer_subject: str
    signed_at: dt.datetime
    added_bytes: int  # output size minus input size


def probe_duration_ms(stream: BinaryIO) -> int:
    """Duration of an MP4 stream in milliseconds; leaves the stream position unchanged."""
    import av

    position = stream.tell()
    try:
        with av.open(stream, mode="r", format="mp4") as container:
            if container.duration is not None:
                return round(container.duration / 1000)  # av.time_base is microseconds
            video = container.streams.video[0]
            return round(float(video.duration * video.time_base) * 1000)
    except (av.error.FFmpegError, IndexError, TypeError) as exc:
        raise InvalidVideo(f"not a readable MP4 video: {exc}") from exc
    finally:
        stream.seek(position)


def software_agent(checkpoint_sha256: str | None) -> dict[str, str]:
    agent = {"name": "Candor", "version": __version__}
    if checkpoint_sha256:
        agent[_CHECKPOINT_FIELD] = checkpoint_sha256
    return agent


def build_manifest_definition(claim: GenerationClaim, binding: SoftBinding, *, duration_ms: int) -> dict[str, Any]:
    """The c2pa Builder definition (ingredients are added from their bytes when signing)."""
    agent = software_agent(claim.model_checkpoint_sha256)
    return {
        "claim_generator_info": [agent],
        "title": claim.title,
        "format": VIDEO_MIME,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                            "description": "Talking-face video generated from one portrait and one audio clip",
                        },
                        {
                            "action": "c2pa.watermarked",
                            "softwareAgent": agent,
                            "description": f"Invisible watermark {binding.alg} bound via c2pa.soft-binding",
                        },
                    ]
                },
            },
            {"label": SOFT_BINDING_ASSERTION, "data": binding.assertion_data(duration_ms)},
            {"label": GENERATION_ASSERTION, "data": claim.assertion_data()},
        ],
    }


def _signing_context(thumbnails: bool) -> c2pa.Context:
    import c2pa

    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": thumbnails}}})


def verification_context(trust_anchors: Sequence[str] = ()) -> c2pa.Context:
    """A c2pa Context that trusts the PEM roots ``trust_anchors`` as user anchors (none: any
    signature is then at best Valid, i.e. untrusted)."""
    import c2pa

    anchors = "".join(trust_anchors)
    config: dict[str, Any] = {"verify": {"verify_trust": True}}
    if anchors:
        config["trust"] = {"user_anchors": anchors}
    return c2pa.Context.from_dict(config)


def _add_ingredient(builder: c2pa.Builder, title: str, data: bytes, mime: str) -> None:
    import c2pa

    if mime not in c2pa.Builder.get_supported_mime_types():
        raise InvalidInput(f"{title}: media type {mime!r} cannot be recorded as a C2PA ingredient")
    ingredient = {"title": title, "relationship": "inputTo", "format": mime}
    try:
        builder.add_ingredient(ingredient, mime, io.BytesIO(data))
    except c2pa.C2paError as exc:
        raise InvalidInput(f"{title}: not a readable {mime} file ({exc})") from exc


def _extension(mime: str) -> str:
    """A file extension for an ingredient title ("image/jpeg" -> "jpg", "audio/wav" -> "wav")."""
    if "wav" in mime:  # audio/wav, audio/wave, audio/vnd.wave: unknown to mimetypes but for x-wav
        return "wav"
    guessed = mimetypes.guess_extension(mime)
    return guessed.lstrip(".") if guessed else mime.rsplit("/", 1)[-1]


def _signing_error(exc: Exception, signer: ClaimSigner) -> Exception:
    signer.raise_pending_error()
    message = str(exc)
    if signer.tsa_url:
        # c2pa-rs does not type TSA failures; with a TSA configured, a failed sign is reported as such
        # with the native message so an operator sees the real cause.
        return TimestampAuthorityUnavailable(
            f"signing failed with the timestamp authority {signer.tsa_url} configured: {message}"
        )
    return SigningFailed(f"C2PA signing failed: {message}")


def sign_video(
    src: BinaryIO | bytes,
    dst: BinaryIO,
    *,
    claim: GenerationClaim,
    portrait: bytes,
    portrait_mime: str,
    audio: bytes | None,
    audio_mime: str | None,
    binding: SoftBinding,
    signer: ClaimSigner,
    thumbnails: bool = False,
) -> SignedManifest:
    """Sign the MP4 in ``src`` into ``dst`` (both streams; ``dst`` must be writable and seekable).

    ``portrait``/``audio`` are the generation's inputs, recorded as ``inputTo`` ingredients
    (with thumbnails if ``thumbnails``: ~42 KB more). ``signer`` holds the key and chain.
    Raises SigningCertificateRejected (expired / wrong EKU...), TimestampAuthorityUnavailable,
    SigningFailed, InvalidVideo, InvalidInput.
    """
    import c2pa

    leaf = signer.chain[0]
    check_signing_certificate(leaf)
    source: BinaryIO = io.BytesIO(src) if isinstance(src, bytes | bytearray) else src
    source_start = source.tell()
    source_size = source.seek(0, io.SEEK_END) - source_start
    source.seek(source_start)
    duration_ms = probe_duration_ms(source)
    definition = build_manifest_definition(claim, binding, duration_ms=duration_ms)
    dst_start = dst.tell()

    with _signing_context(thumbnails) as context, c2pa.Builder(definition, context) as builder:
        _add_ingredient(builder, f"portrait.{_extension(portrait_mime)}", portrait, portrait_mime)
        if audio is not None:
            _add_ingredient(builder, f"audio.{_extension(audio_mime or '')}", audio, audio_mime or "")
        with signer.c2pa_signer() as native_signer:
            try:
                manifest_store = builder.sign(native_signer, VIDEO_MIME, source, dst)
            except c2pa.C2paError as exc:
                raise _signing_error(exc, signer) from exc
    signer.raise_pending_error()
    added = dst.seek(0, io.SEEK_END) - dst_start - source_size
    return SignedManifest(
        manifest_id=manifest_label(manifest_store),
        manifest_store=manifest_store,
        claim=claim,
        binding=binding,
        signer_fingerprint=fingerprint(leaf),
        signer_subject=leaf.subject.rfc4514_string(),
        signed_at=dt.datetime.now(dt.UTC),
        added_bytes=added,
    )


def read_manifest_store(manifest_store: bytes, trust_anchors: Sequence[str] | None = None) -> dict[str, Any]:
    """The c2pa JSON of a detached manifest store (its content hash cannot match without the asset),
    validated against ``trust_anchors`` (PEM roots) when given."""
    import c2pa

    context = verification_context(trust_anchors) if trust_anchors is not None else None
    try:
        with c2pa.Reader(MANIFEST_MIME, io.BytesIO(manifest_store), context=context) as reader:
            report = json.loads(reader.json())
            report["validation_results"] = reader.get_validation_results()
            return report
    except c2pa.C2paError as exc:
        raise InvalidInput(f"not a C2PA manifest store: {exc}") from exc


def manifest_label(manifest_store: bytes) -> str:
    """The active manifest's label (``urn:c2pa:<uuid>``) of a manifest store."""
    label = read_manifest_store(manifest_store).get("active_manifest")
    if not label:
        raise SigningFailed("the signed manifest store has no active manifest")
    return str(label)
