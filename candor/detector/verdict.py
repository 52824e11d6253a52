"""``detect_video``: is the face in this video synthetic, and if Candor made it, which generation?

Evidence, strongest first:

1. C2PA Content Credentials embedded in the file, valid and signed by a trusted Candor key, with
   the AI-generated assertion (``trainedAlgorithmicMedia``) and Candor's generation record.
2. The Candor watermark decoded from the pixels and the generation record it points to in the
   manifest repository (survives re-encoding and stripped metadata).
3. The classifier: calibrated probability that the face is synthetic, a per-second timeline, the
   face track it looked at, and how it was calibrated. Statistical evidence, never proof.

Verdicts (:class:`Verdict`) and the CLI's exit codes (:data:`EXIT_CODES`):

- ``candor_proven`` (3) "Candor-generated (proven)": 1 or 2 holds and names a generation.
- ``synthetic_classifier`` (1) "synthetic (classifier)": no proof, but the classifier's probability is
  over its calibrated threshold for the whole video or for a segment of at least
  :data:`~candor.detector.timeline.MIN_SEGMENT_S` consecutive seconds (or a Candor watermark decoded
  whose record this repository lacks).
- ``no_evidence`` (0) "no evidence of synthesis": none of the above. Not proof of authenticity.
- ``cannot_analyse`` (4) "cannot analyse": unreadable video, no frames, or no face; ``reason`` says which.

(Exit 2 stays a usage error, as for every ``candor`` command.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from candor.detector.timeline import (
    CUE_WORDS,
    MIN_FACE_SAMPLES,
    cue_shares,
    decisive_segments,
    face_coverage_words,
    per_second_timeline,
    segments_over_threshold,
)
from candor.errors import InvalidVideo, PayloadTooLarge

if TYPE_CHECKING:
    from candor.provenance.verify import ManifestLookup, Verifier


class Verdict(StrEnum):
    CANDOR_PROVEN = "candor_proven"
    SYNTHETIC_CLASSIFIER = "synthetic_classifier"
    NO_EVIDENCE = "no_evidence"
    CANNOT_ANALYSE = "cannot_analyse"


LABELS = {
    Verdict.CANDOR_PROVEN: "Candor-generated (proven)",
    Verdict.SYNTHETIC_CLASSIFIER: "synthetic (classifier)",
    Verdict.NO_EVIDENCE: "no evidence of synthesis",
    Verdict.CANNOT_ANALYSE: "cannot analyse",
}
EXIT_CODES = {
    Verdict.NO_EVIDENCE: 0,
    Verdict.SYNTHETIC_CLASSIFIER: 1,
    Verdict.CANDOR_PROVEN: 3,
    Verdict.CANNOT_ANALYSE: 4,
}
DEFAULT_MAX_BYTES = 2 * 1024**3  # the CLI's ceiling; the API passes its own upload limit
DEFAULT_MAX_SECONDS = 3600.0  # longer videos are scanned over their first hour only


@dataclass
class Evidence:
    """One line of evidence. ``kind``: credentials | watermark | classifier; ``strength``: proof |
    strong | statistical | none."""

    kind: str
    strength: str
    finding: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassifierResult:
    probability: float  # calibrated, video level, 0..1
    threshold: float
    flagged: bool
    timeline: list[dict[str, float]]  # [{"second", "probability", "samples"}]
    samples: int  # frames with a face the classifier scored
    sampled_frames: int  # frames looked at (``sample_fps`` per second)
    sample_fps: float
    face_track: dict[str, Any]  # coverage, mean box, first/last second with a face
    calibration: dict[str, Any]
    checkpoint: str | None
    suspicious: list[dict[str, float]]  # the most suspicious samples: [{"second", "probability"}]
    # runs of consecutive seconds at or over the threshold, each with the cue that carried it
    segments: list[dict[str, Any]] = field(default_factory=list)
    flagged_seconds: int = 0  # seconds of the timeline at or over the threshold
    # each cue's share of the video's score, in logits (see :func:`candor.detector.timeline.cue_shares`), largest first
    cues: dict[str, float] = field(default_factory=dict)
    trained_on: str = ""  # what the classifier was trained on, in words, from its checkpoint


@dataclass
class DetectionReport:
    path: str
    verdict: Verdict
    reason: str | None  # why, in one line (always set for cannot_analyse)
    generation: dict[str, Any] | None  # the proven generation: id, partner pseudonym, time, consent id
    evidence: list[Evidence]
    credentials: dict[str, Any] | None  # the provenance verification report (candor verify)
    classifier: ClassifierResult | None
    video: dict[str, Any]  # frames, fps, width, height, duration_s
    unreadable: bool = False
    seconds: float = 0.0  # time the scan took
    # the aligned crops of the most suspicious samples, for the HTML report (not serialised)
    suspicious_crops: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        return LABELS[self.verdict]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("suspicious_crops")
        data["verdict_label"] = self.label
        data["exit_code"] = self.exit_code
        return json.loads(json.dumps(data, default=str))


def _generation_record(
    summary: dict[str, Any] | None, manifest_id: str | None, manifests: ManifestLookup | None
) -> dict[str, Any]:
    generation = (summary or {}).get("generation") or {}
    record: dict[str, Any] = {
        "generation_id": generation.get("generation_id"),
        "partner_pseudonym": generation.get("partner"),
        "consent_id": generation.get("consent_id"),
        "manifest_id": manifest_id,
        "signed_at": (summary or {}).get("signed_at"),
        "signer": (summary or {}).get("signer"),
    }
    if manifest_id and manifests is not None:
        stored = manifests.manifest_by_id(manifest_id)
        if stored is not None:
            record["signed_at"] = record["signed_at"] or stored.get("signedAt")
            record["in_repository"] = True
    return record


def _provenance(path: Path, verifier: Verifier) -> tuple[list[Evidence], dict[str, Any] | None, dict[str, Any]]:
    """Credentials and watermark evidence, the proven generation (or None) and the raw report."""
    from candor.provenance.verify import ManifestState, Outcome

    report = verifier.verify_file(path)
    raw = report.to_dict()
    evidence: list[Evidence] = []
    generation = None
    summary = raw.get("summary")
    if report.state is ManifestState.TRUSTED:
        ai = bool(summary and summary.get("ai_generated"))
        evidence.append(
            Evidence(
                "credentials",
                "proof",
                f"trusted C2PA manifest signed by {summary.get('signer') if summary else '?'}"
                + ("; asserts AI-generated (trainedAlgorithmicMedia)" if ai else ""),
                {"state": report.state.value, "ai_generated": ai, "manifest_id": summary and summary["manifest_id"]},
            )
        )
        if report.outcome is Outcome.PROVEN:
            generation = _generation_record(summary, summary and summary["manifest_id"], verifier.manifests)
    elif report.state is not ManifestState.ABSENT:
        evidence.append(
            Evidence(
                "credentials",
                "none",
                f"C2PA manifest present but {report.state.value}: {', '.join(report.failure_codes) or 'unverifiable'}",
                {"state": report.state.value, "failure_codes": report.failure_codes},
            )
        )
    else:
        evidence.append(Evidence("credentials", "none", "no C2PA manifest in the file", {"state": "Absent"}))
    watermark = raw.get("watermark")
    if watermark and watermark.get("found"):
        recovered = raw.get("recovered")
        if recovered and report.outcome is Outcome.PROVEN and generation is None:
            generation = _generation_record(recovered["summary"], recovered["manifest_id"], verifier.manifests)
        if generation is not None:
            where = "its generation record is in the manifest repository"
        elif raw.get("erased"):
            where = "its generation record was erased at the data subject's request"
        else:
            where = "no generation record for it in this repository"
        evidence.append(
            Evidence(
                "watermark",
                "proof" if generation is not None else "strong",
                f"Candor watermark decoded (serial {watermark['serial']}, "
                f"confidence {watermark['confidence']:.6f}); {where}",
                {k: watermark[k] for k in ("serial", "binding_value", "confidence", "bit_accuracy", "frames_used")},
            )
        )
    elif watermark is not None:
        evidence.append(
            Evidence("watermark", "none", "no Candor watermark decoded", {"frames_used": watermark["frames_used"]})
        )
    else:
        evidence.append(Evidence("watermark", "none", "watermark not checked: " + "; ".join(report.notes)))
    return evidence, generation, raw


def _classify(
    path: Path, classifier, max_seconds: float
) -> tuple[ClassifierResult | None, dict[str, Any], list[np.ndarray]]:
    from candor.detector.features import extract_video
    from candor.detector.sampling import DENSE_WORDS

    features = extract_video(path, sample_fps=classifier.sample_fps, max_seconds=max_seconds)
    duration = features.frames_decoded / features.fps if features.fps else 0.0
    video = {
        "frames": features.frames_decoded,
        "fps": features.fps,
        "width": features.width,
        "height": features.height,
        "duration_s": round(duration, 3),
    }
    if features.n == 0:
        return None, video, []
    logits, ablated = classifier.explain(features)
    probability = classifier.video_probability(logits)
    timeline = per_second_timeline(features.times, logits, classifier, duration)
    everything = np.ones(len(logits), bool)
    # frames looked at for a face: as the extractor counted them (adaptive sampling looks at more), else
    # the sampling rate over the duration
    sampled = features.sampled or (int(np.ceil(duration * classifier.sample_fps)) if duration else features.n)
    boxes = features.boxes
    order = np.argsort(-logits)[:6]
    result = ClassifierResult(
        probability=round(probability, 4),
        threshold=classifier.calibration.threshold,
        flagged=probability >= classifier.calibration.threshold and features.n >= MIN_FACE_SAMPLES,
        timeline=timeline,
        samples=features.n,
        sampled_frames=max(sampled, features.n),
        sample_fps=classifier.sample_fps,
        face_track={
            "coverage": round(features.n / max(sampled, features.n), 3),
            "first_second": float(features.times[0]),
            "last_second": float(features.times[-1]),
            "mean_box_xyxy": [round(float(v), 1) for v in boxes.mean(0)],
            "face": "the largest face mediapipe finds in each sampled frame",
            **({"adaptive_sampling": DENSE_WORDS} if features.dense else {}),
        },
        calibration=asdict(classifier.calibration),
        checkpoint=classifier.path,
        suspicious=[
            {
                "second": round(float(features.times[i]), 2),
                "probability": round(float(classifier.calibration.probability(logits[i])), 4),
            }
            for i in order
        ],
        segments=segments_over_threshold(timeline, features.times, logits, ablated, classifier),
        flagged_seconds=sum(p["probability"] >= classifier.calibration.threshold for p in timeline),
        cues=cue_shares(logits, ablated, classifier.boundary_logit(), everything),
        trained_on=classifier.trained_on,
    )
    return result, video, [features.crops[i] for i in order]


def detect_video(
    path: str | Path,
    *,
    verifier: Verifier,
    classifier=None,  # candor.detector.model.Classifier; default: the shipped checkpoint
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> DetectionReport:
    """Scan one video file; see the module docstring for the verdicts. ``verifier`` checks the
    credentials and the watermark and finds generation records (its manifest lookup).

    Raises InvalidVideo for a missing file and PayloadTooLarge over ``max_bytes``; an unreadable
    file or one without frames gives a ``cannot_analyse`` report with ``unreadable=True``. The
    classifier looks at ``classifier.sample_fps`` frames per second of the first ``max_seconds``.
    """
    import time

    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise InvalidVideo(f"no such file: {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise PayloadTooLarge(f"{path.name} is {size} bytes; the limit is {max_bytes} bytes")

    def unreadable(reason: str) -> DetectionReport:
        return DetectionReport(
            str(path), Verdict.CANNOT_ANALYSE, reason, None, [], None, None, {}, unreadable=True,
            seconds=round(time.perf_counter() - started, 3),
        )  # fmt: skip

    try:
        evidence, generation, credentials = _provenance(path, verifier)
    except InvalidVideo as exc:
        return unreadable(exc.detail)
    if classifier is None:
        from candor.detector.model import load_classifier

        classifier = load_classifier()
    try:
        result, video, crops = _classify(path, classifier, max_seconds)
    except InvalidVideo as exc:
        return unreadable(exc.detail)
    if video["frames"] == 0:
        return unreadable(f"{path.name} has no decodable frames")

    if result is not None:
        strength = "statistical" if result.flagged or decisive_segments(result.segments, result.threshold) else "none"
        few = result.samples < MIN_FACE_SAMPLES and result.probability >= result.threshold
        side = "over" if result.probability >= result.threshold else "under"
        finding = (
            f"P(synthetic) = {result.probability:.3f} ({side} the calibrated threshold {result.threshold:.3f}) "
            f"over {result.samples} face samples"
            + (f", too few to flag (at least {MIN_FACE_SAMPLES} needed)" if few else "")
        )
        finding += (
            f"; {face_coverage_words(result.samples, result.sampled_frames, result.face_track, video['duration_s'])}"
        )
        if result.segments:
            spans = ", ".join(f"{g['start_s']:g}-{g['end_s']:g} s" for g in result.segments[:5])
            more = f" and {len(result.segments) - 5} more" if len(result.segments) > 5 else ""
            finding += (
                f"; {result.flagged_seconds} of {len(result.timeline)} seconds over the threshold in "
                f"{len(result.segments)} segment(s): {spans}{more}"
            )
        top = next(iter(result.cues), None)
        if top is not None and result.cues[top] > 0:
            finding += f"; the score rests mostly on {CUE_WORDS.get(top, top)}"
        details = {"probability": result.probability, "segments": len(result.segments)}
        evidence.append(Evidence("classifier", strength, finding, details))
    else:
        evidence.append(
            Evidence("classifier", "none", f"no face found in any of the sampled frames of {video['frames']}")
        )
    rank = {"proof": 0, "strong": 1, "statistical": 2, "none": 3}
    evidence.sort(key=lambda e: rank[e.strength])  # stable: credentials before watermark before classifier

    watermark_only = any(e.kind == "watermark" and e.strength == "strong" for e in evidence)
    if generation is not None:
        verdict, reason = Verdict.CANDOR_PROVEN, f"generation {generation['generation_id']}"
    elif result is None:
        verdict, reason = (
            Verdict.CANNOT_ANALYSE,
            f"no face found in {video['frames']} frames ({classifier.sample_fps:g} sampled per second)",
        )
    elif result.flagged or watermark_only or decisive_segments(result.segments, result.threshold):
        if watermark_only:
            why = f"a Candor watermark without a generation record (P = {result.probability:.3f})"
        elif result.flagged:
            why = f"the classifier (P = {result.probability:.3f})"
        else:
            g = decisive_segments(result.segments, result.threshold)[0]
            why = (
                f"the classifier in {g['start_s']:g}-{g['end_s']:g} s (P = {g['probability']:.3f}; "
                f"whole video {result.probability:.3f})"
            )
        verdict, reason = Verdict.SYNTHETIC_CLASSIFIER, f"flagged by {why}"
    else:
        verdict, reason = Verdict.NO_EVIDENCE, f"P(synthetic) = {result.probability:.3f} under {result.threshold:.3f}"
        if result.samples < MIN_FACE_SAMPLES and result.probability >= result.threshold:
            reason = (
                f"P(synthetic) = {result.probability:.3f} from only {result.samples} face samples "
                f"(at least {MIN_FACE_SAMPLES} needed to flag)"
            )
        if result.segments:
            reason += (
                f", but {result.flagged_seconds} s over the threshold in {len(result.segments)} short segment(s): "
                "review them"
            )
    return DetectionReport(
        path=str(path),
        verdict=verdict,
        reason=reason,
        generation=generation,
        evidence=evidence,
        credentials=credentials,
        classifier=result,
        video=video,
        seconds=round(time.perf_counter() - started, 3),
        suspicious_crops=crops,
    )
