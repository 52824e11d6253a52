"""The classifier's evidence over time: the per-second timeline, the runs of seconds over the
threshold (segments), and which cue carries a score, in words a reviewer can act on."""

from __future__ import annotations

from typing import Any

import numpy as np

# A run of seconds over the threshold this long decides the verdict on its own: it holds at least as
# many samples as the 2.4 s clips the calibration was fitted on, so its probability means the same;
# shorter runs are reported as leads. (A whole-video mean hides 3 synthetic seconds in 9.)
MIN_SEGMENT_S = 3
# Fewer face samples than this (2 s of face at 4 samples a second) never flag, as a whole video or as a
# segment: the calibration was fitted on clips with at least this much face, and a mean over a handful
# of samples (a cartoon's face found in 4 of 21 sampled frames) is not a probability it can stand behind.
MIN_FACE_SAMPLES = 8


def decisive_segments(segments: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The segments long enough, with enough face samples, and over the threshold as a whole, to flag the video."""
    return [
        g
        for g in segments
        if g["seconds"] >= MIN_SEGMENT_S
        and g.get("samples", MIN_FACE_SAMPLES) >= MIN_FACE_SAMPLES
        and g["probability"] >= threshold
    ]


def cue_shares(
    logits: np.ndarray, ablated: dict[str, np.ndarray], boundary: float, sel: np.ndarray
) -> dict[str, float]:
    """How much each cue carries the mean score of the samples in ``sel``, in logits, largest first.
    A motion or pixel-change cue: the score minus the score with that cue at its training mean.
    Appearance: the crop's score with every temporal cue at its mean, minus the decision boundary
    (positive: the face crop alone is on the synthetic side)."""
    from candor.detector.model import APPEARANCE_CUE

    shares = {
        name: float(np.mean(ablated[name][sel]) - boundary)
        if name == APPEARANCE_CUE
        else float(np.mean(logits[sel] - ablated[name][sel]))
        for name in ablated
    }
    return {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def segments_over_threshold(
    timeline: list[dict[str, float]],
    times: np.ndarray,
    logits: np.ndarray,
    ablated: dict[str, np.ndarray],
    classifier,
) -> list[dict[str, Any]]:
    """Runs of consecutive timeline seconds at or over the threshold, with their probability and
    the cue that carried them. Per-second probabilities come from fewer samples than the clips the
    calibration was fitted on, so a short segment is a lead for a reviewer (see :data:`MIN_SEGMENT_S`)."""
    threshold = classifier.calibration.threshold
    runs: list[list[float]] = []
    for point in timeline:
        if point["probability"] < threshold:
            continue
        if runs and point["second"] == runs[-1][-1] + 1:
            runs[-1].append(point["second"])
        else:
            runs.append([point["second"]])
    boundary = classifier.boundary_logit()
    out = []
    for run in runs:
        sel = (times >= run[0]) & (times < run[-1] + 1)
        cues = cue_shares(logits, ablated, boundary, sel) if ablated else {}
        out.append(
            {
                "start_s": run[0],
                "end_s": run[-1] + 1,
                "seconds": len(run),
                "samples": int(sel.sum()),
                "probability": round(float(classifier.calibration.probability(float(logits[sel].mean()))), 4),
                "peak_probability": max(p["probability"] for p in timeline if run[0] <= p["second"] <= run[-1]),
                "cue": next(iter(cues), None),
                "cues": cues,
            }
        )
    return out


CUE_WORDS = {
    "expression motion": "non-rigid face motion (lips, lids and brows moving against the head)",
    "head motion": "rigid head movement",
    "mouth and eye opening": "how open the mouth and eyes are",
    "frame-to-frame pixel change": "how pixels change between frames in mouth, eyes, face and background",
    "still background and body": "a background and shoulders that stay still while the face moves",
    "grain carried by the face": "image grain that moves with the face (a warped photo) instead of staying fresh",
    "face appearance": "the look of the face crop itself (texture, mouth interior), motion aside",
}


def face_coverage_words(samples: int, sampled_frames: int, track: dict[str, Any], duration_s: float) -> str:
    """How much of the video the classifier could look at, in one sentence."""
    return (
        f"a face in {samples} of {sampled_frames} sampled frames "
        f"({100 * track.get('coverage', 0.0):.0f} %), {track.get('first_second', 0.0):.1f}-"
        f"{track.get('last_second', 0.0):.1f} s of {duration_s:.1f} s"
        + (f" ({track['adaptive_sampling']})" if track.get("adaptive_sampling") else "")
    )


def per_second_timeline(times: np.ndarray, logits: np.ndarray, classifier, duration: float) -> list[dict[str, float]]:
    out = []
    for second in range(int(np.ceil(max(duration, 1e-6)))):
        sel = (times >= second) & (times < second + 1)
        if sel.any():
            prob = float(classifier.calibration.probability(float(logits[sel].mean())))
            out.append({"second": float(second), "probability": round(prob, 4), "samples": int(sel.sum())})
    return out
