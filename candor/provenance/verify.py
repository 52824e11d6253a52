"""``candor verify``: is this file a proven Candor output, and what do its credentials say?

Two independent signals are read: the embedded C2PA manifest (validated against this service's roots
and the configured trust anchors) and the keyed invisible watermark. When the manifest is gone (a
re-encode or an upload strips it) the watermark's binding value finds the manifest in the repository.

Outcomes and exit codes (for scripts):

- ``proven`` (0): the embedded manifest is ``Trusted`` (and, when the watermark decodes, it agrees
  with the manifest's soft binding); or there is no manifest but the watermark decodes and the
  repository holds a manifest for it whose signature is trusted ("durable credentials").
- ``not_found`` (1): no manifest and no watermark: nothing says this is a Candor output.
- ``unproven`` (3): a manifest that is ``Invalid`` (tampered: e.g. ``assertion.bmffHash.mismatch``) or
  only ``Valid-untrusted`` (signed by an unknown key), a watermark that contradicts the manifest, or a
  watermark whose manifest this repository does not hold.

(Exit 2 is a usage or input error, as for every ``candor`` command.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from candor.errors import CandorError, InvalidVideo
from candor.files import sniff_media_type
from candor.provenance.manifest import (
    GENERATION_ASSERTION,
    SOFT_BINDING_ASSERTION,
    TRAINED_ALGORITHMIC_MEDIA,
    read_manifest_store,
    verification_context,
)

if TYPE_CHECKING:
    from candor.provenance.watermark import WatermarkKey


class ManifestLookup(Protocol):
    """Where signed manifests are found by their soft binding (the C2PA Soft Binding Resolution API's
    shape): the service's manifest repository implements it."""

    def matches_by_binding(self, *, alg: str, value: str, max_results: int = 10) -> dict[str, Any]: ...

    def manifest_by_id(self, manifest_id: str, *, return_active_manifest: bool = False) -> dict[str, Any] | None: ...


class ManifestState(StrEnum):
    TRUSTED = "Trusted"
    VALID_UNTRUSTED = "Valid-untrusted"  # c2pa's "Valid": signature fine, signer not trusted
    INVALID = "Invalid"
    ABSENT = "Absent"


class Outcome(StrEnum):
    PROVEN = "proven"
    NOT_FOUND = "not_found"
    UNPROVEN = "unproven"


EXIT_CODES = {Outcome.PROVEN: 0, Outcome.NOT_FOUND: 1, Outcome.UNPROVEN: 3}
# Containers whose C2PA manifest lives in a box the reader parses (Candor signs MP4).
_BMFF_TYPES = frozenset({"video/mp4", "video/quicktime", "audio/mp4"})
# Failure codes a detached (recovered) manifest store always shows: there is no asset to hash.
_DETACHED_EXPECTED = frozenset({"assertion.bmffHash.mismatch", "assertion.dataHash.mismatch"})


@dataclass(frozen=True)
class ManifestSummary:
    """What a Candor manifest says, flattened for people and scripts."""

    manifest_id: str
    title: str | None
    signer: str | None  # signing certificate common name
    issuer: str | None  # its organization
    signed_at: str | None  # only with a trusted timestamp
    ai_generated: bool  # a c2pa.created action with digitalSourceType trainedAlgorithmicMedia
    digital_source_type: str | None
    software_agent: dict[str, Any] | None
    watermarked: bool  # a c2pa.watermarked action is present
    soft_binding: dict[str, Any] | None  # {"alg", "value", "timespan_ms": [start, end]}
    generation: dict[str, Any] | None  # the com.candor.generation assertion (controls decoded)
    ingredients: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class WatermarkReport:
    found: bool
    serial: int | None
    binding_value: str | None
    alg: str | None
    confidence: float  # 0..1
    bit_accuracy: float | None
    frames_used: int


@dataclass(frozen=True)
class RecoveredManifest:
    """A manifest found in the repository through the watermark (the file itself carried none)."""

    manifest_id: str
    signature_state: ManifestState  # of the stored store's claim signature (no content hash to check)
    failure_codes: list[str]
    summary: ManifestSummary


@dataclass(frozen=True)
class VerificationReport:
    path: str
    state: ManifestState
    failure_codes: list[str]
    failures: list[dict[str, str]]  # [{"code", "explanation"}] from the C2PA validation results
    summary: ManifestSummary | None
    watermark: WatermarkReport | None  # None when detection was not run or could not run
    recovered: RecoveredManifest | None
    binding_consistent: bool | None  # watermark value == the manifest's soft binding (None: n/a)
    notes: list[str] = field(default_factory=list)
    # The watermark names a generation whose record was erased at its data subject's request:
    # {"manifest_id", "generation_id", "erased_at"}; nothing else of it remains to show.
    erased: dict[str, Any] | None = None

    @property
    def outcome(self) -> Outcome:
        watermark_found = self.watermark is not None and self.watermark.found
        if self.state is ManifestState.TRUSTED:
            return Outcome.UNPROVEN if self.binding_consistent is False else Outcome.PROVEN
        if self.state is not ManifestState.ABSENT:
            return Outcome.UNPROVEN
        if not watermark_found:
            return Outcome.NOT_FOUND
        if self.recovered is not None and self.recovered.signature_state is ManifestState.TRUSTED:
            return Outcome.PROVEN
        if self.recovered is None and self.erased is not None:
            return Outcome.PROVEN  # our keyed watermark and our serial: made here, its record erased
        return Outcome.UNPROVEN

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def verdict(self) -> str:
        """One line for people."""
        outcome = self.outcome
        if outcome is Outcome.PROVEN and self.state is ManifestState.TRUSTED:
            return "Proven Candor output: trusted Content Credentials"
        if outcome is Outcome.PROVEN and self.recovered is None and self.erased is not None:
            return "Candor output (its watermark resolves): its record was erased at the data subject's request"
        if outcome is Outcome.PROVEN:
            return "Proven Candor output: credentials stripped, recovered through the watermark"
        if outcome is Outcome.NOT_FOUND and self.watermark is None:
            return "No Content Credentials found (the watermark was not checked)"
        if outcome is Outcome.NOT_FOUND:
            return "No Content Credentials and no Candor watermark found"
        if self.state is ManifestState.INVALID:
            return f"Invalid Content Credentials (tampered?): {', '.join(self.failure_codes) or 'unreadable'}"
        if self.state is ManifestState.VALID_UNTRUSTED:
            return "Content Credentials are valid but signed by an untrusted certificate"
        if self.binding_consistent is False:
            return "The watermark contradicts the manifest's soft binding"
        return "A Candor watermark was found but its manifest is not in this repository"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["exit_code"] = self.exit_code
        data["verdict"] = self.verdict
        return json.loads(json.dumps(data, default=str))  # enums -> their values


def _summarize(report: dict[str, Any]) -> ManifestSummary | None:
    label = report.get("active_manifest")
    manifest = (report.get("manifests") or {}).get(label) if label else None
    if not manifest:
        return None
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    created = next((a for a in actions if a.get("action") == "c2pa.created"), None)
    source_type = created.get("digitalSourceType") if created else None
    binding = assertions.get(SOFT_BINDING_ASSERTION)
    soft_binding = None
    if binding and binding.get("blocks"):
        block = binding["blocks"][0]
        span = (block.get("scope") or {}).get("timespan") or {}
        soft_binding = {
            "alg": binding.get("alg"),
            "value": block.get("value"),
            "timespan_ms": [span.get("start"), span.get("end")] if span else None,
        }
    generation = assertions.get(GENERATION_ASSERTION)
    if generation is not None:
        generation = dict(generation)
        if isinstance(generation.get("controls"), str):
            # a foreign writer's free text stays as it is
            with contextlib.suppress(ValueError):
                generation["controls"] = json.loads(generation["controls"])
    signature = manifest.get("signature_info") or {}
    return ManifestSummary(
        manifest_id=label,
        title=manifest.get("title"),
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        signed_at=signature.get("time"),
        ai_generated=source_type == TRAINED_ALGORITHMIC_MEDIA,
        digital_source_type=source_type,
        software_agent=created.get("softwareAgent") if created else None,
        watermarked=any(a.get("action") == "c2pa.watermarked" for a in actions),
        soft_binding=soft_binding,
        generation=generation,
        ingredients=[
            {"title": i.get("title"), "format": i.get("format"), "relationship": i.get("relationship")}
            for i in manifest.get("ingredients", [])
        ],
    )


def _failures(results: dict[str, Any] | None) -> list[dict[str, str]]:
    active = (results or {}).get("activeManifest") or {}
    return [{"code": f.get("code", ""), "explanation": f.get("explanation", "")} for f in active.get("failure", [])]


def _state(c2pa_state: str | None) -> ManifestState:
    if c2pa_state == "Trusted":
        return ManifestState.TRUSTED
    if c2pa_state == "Valid":
        return ManifestState.VALID_UNTRUSTED
    return ManifestState.INVALID


def _read_embedded(
    path: Path, trust_anchors: Sequence[str]
) -> tuple[ManifestState, list[dict[str, str]], ManifestSummary | None, str | None]:
    """State, failures and summary of the file's own manifest, and a note when its container cannot
    carry one. The reader is told the container the bytes are: a WebM read as an MP4 is merely
    unparsable, which once made a transcode look tampered."""
    import c2pa

    with path.open("rb") as stream:
        container = sniff_media_type(stream.read(16)) or "application/octet-stream"
    if container not in _BMFF_TYPES:
        # Candor signs MP4s; a copy in another container (a VP9/WebM transcode) has lost the
        # credentials, which the watermark can still recover: stripped, not tampered.
        return ManifestState.ABSENT, [], None, f"a {container} file: the MP4's credentials did not survive the copy"
    with verification_context(trust_anchors) as context, path.open("rb") as stream:
        try:
            reader = c2pa.Reader.try_create(container, stream, None, context)
        except c2pa.C2paError as exc:
            # A manifest is there but cannot be parsed: as good as tampered.
            return ManifestState.INVALID, [{"code": "manifest.unreadable", "explanation": str(exc)}], None, None
        if reader is None:
            return ManifestState.ABSENT, [], None, None
        with reader:
            failures = _failures(reader.get_validation_results())
            state = _state(reader.get_validation_state())
            summary = _summarize(json.loads(reader.json()))
    return state, failures, summary, None


def _detect_watermark(path: Path, key: WatermarkKey) -> WatermarkReport:
    from candor.provenance.watermark import WATERMARK_ALG, binding_value, detect_video

    detection = detect_video(str(path), key)
    found = bool(detection.found and detection.serial is not None)
    return WatermarkReport(
        found=found,
        serial=detection.serial if found else None,
        binding_value=binding_value(detection.serial) if found else None,
        alg=WATERMARK_ALG if found else None,
        confidence=float(detection.confidence),
        bit_accuracy=None if detection.bit_accuracy is None else float(detection.bit_accuracy),
        frames_used=int(detection.frames_used),
    )


def _recover(
    watermark: WatermarkReport, manifests: ManifestLookup, trust_anchors: Sequence[str]
) -> tuple[RecoveredManifest | None, dict[str, Any] | None]:
    """The manifest the watermark resolves to, and (when its record was erased) what the erasure
    left: the ids and when."""
    matches = manifests.matches_by_binding(alg=watermark.alg or "", value=watermark.binding_value or "")
    erased = None
    for match in matches["matches"]:
        stored = manifests.manifest_by_id(match["manifestId"])
        if stored is None:
            continue
        if stored.get("erasedAt"):
            erased = erased or {
                "manifest_id": stored["manifestId"],
                "generation_id": stored.get("generationId"),
                "erased_at": stored["erasedAt"],
            }
            continue
        report = read_manifest_store(stored["manifestStore"], trust_anchors)
        summary = _summarize(report)
        if summary is None:
            continue
        codes = [f["code"] for f in _failures(report.get("validation_results"))]
        unexpected = [c for c in codes if c not in _DETACHED_EXPECTED]
        successes = {
            s.get("code")
            for s in ((report.get("validation_results") or {}).get("activeManifest") or {}).get("success", [])
        }
        if unexpected:
            state = ManifestState.INVALID
        elif "signingCredential.trusted" in successes and "claimSignature.validated" in successes:
            state = ManifestState.TRUSTED
        else:
            state = ManifestState.VALID_UNTRUSTED
        recovered = RecoveredManifest(
            manifest_id=summary.manifest_id, signature_state=state, failure_codes=codes, summary=summary
        )
        return recovered, None
    return None, erased


def _require_video(path: Path) -> None:
    """Refuse, as an input error, anything FFmpeg cannot open as a video (a tampered MP4 still opens)."""
    import av

    if not path.is_file():
        raise InvalidVideo(f"no such file: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidVideo(f"{path.name} has no video stream")
    except av.error.FFmpegError as exc:
        raise InvalidVideo(f"{path.name} is not a readable video: {exc}") from exc


@dataclass(frozen=True)
class Verifier:
    """What verifying a file needs: the trusted roots (PEM), the watermark key (None: no watermark
    check) and where manifests are found by their watermark (None: no recovery)."""

    trust_anchors: Sequence[str] = ()
    watermark_key: WatermarkKey | None = None
    manifests: ManifestLookup | None = None

    def verify_file(self, path: str | Path, *, detect_watermark: bool = True, trust: bool = True) -> VerificationReport:
        """Verify one MP4: C2PA manifest state and summary, watermark decode, repository recovery.

        ``trust=False`` ignores every trust anchor (to show what an outsider without our root sees).
        Raises InvalidVideo for a missing/unreadable file.
        """
        return verify_file(
            path,
            trust_anchors=self.trust_anchors if trust else (),
            watermark_key=self.watermark_key if detect_watermark else None,
            manifests=self.manifests,
        )


def verify_file(
    path: str | Path,
    *,
    trust_anchors: Sequence[str] = (),
    watermark_key: WatermarkKey | None = None,
    manifests: ManifestLookup | None = None,
) -> VerificationReport:
    """Verify one MP4 against ``trust_anchors``; decode the watermark with ``watermark_key`` (if
    given) and, when the file carries no manifest, recover one through ``manifests`` (if given)."""
    path = Path(path)
    _require_video(path)
    state, failures, summary, container_note = _read_embedded(path, trust_anchors)
    notes: list[str] = [container_note] if container_note else []
    watermark: WatermarkReport | None = None
    if watermark_key is not None:
        try:
            watermark = _detect_watermark(path, watermark_key)
        except CandorError as exc:
            notes.append(f"watermark not checked: {exc.detail}")
    binding_consistent: bool | None = None
    if watermark is not None and watermark.found and summary is not None and summary.soft_binding:
        binding_consistent = (
            summary.soft_binding.get("alg") == watermark.alg
            and summary.soft_binding.get("value") == watermark.binding_value
        )
    if state is ManifestState.TRUSTED and watermark is not None and not watermark.found:
        notes.append("the watermark did not decode (very short or heavily processed clip?)")
    recovered = erased = None
    if state is ManifestState.ABSENT and watermark is not None and watermark.found and manifests is not None:
        recovered, erased = _recover(watermark, manifests, trust_anchors)
    return VerificationReport(
        path=str(path),
        state=state,
        failure_codes=[f["code"] for f in failures],
        failures=failures,
        summary=summary,
        watermark=watermark,
        recovered=recovered,
        binding_consistent=binding_consistent,
        notes=notes,
        erased=erased,
    )
