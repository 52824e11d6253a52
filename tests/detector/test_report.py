"""The HTML report inserts nothing unescaped: every field a video, its manifest or a checkpoint can
carry is text in the page, never markup."""

from __future__ import annotations

from candor.detector.report import render_html
from candor.detector.verdict import ClassifierResult, DetectionReport, Evidence, Verdict

EVIL = "<script>alert(1)</script>"


def test_every_field_is_escaped() -> None:
    classifier = ClassifierResult(
        probability=0.9,
        threshold=0.5,
        flagged=True,
        timeline=[],
        samples=3,
        sampled_frames=4,
        sample_fps=4.0,
        face_track={"face": EVIL},
        calibration={"method": EVIL, "fitted_on": EVIL},
        checkpoint=EVIL,
        suspicious=[],
        segments=[
            {"start_s": 0.0, "end_s": 1.0, "seconds": 1, "probability": 0.9, "peak_probability": 0.9, "cue": EVIL}
        ],
        flagged_seconds=1,
        cues={EVIL: 1.0},
        trained_on=EVIL,
    )
    report = DetectionReport(
        path=f"/tmp/{EVIL}.mp4",
        verdict=Verdict.CANDOR_PROVEN,
        reason=EVIL,
        generation={EVIL: EVIL, "signer": EVIL},
        evidence=[Evidence(EVIL, EVIL, EVIL, {EVIL: EVIL})],
        credentials={"state": EVIL},
        classifier=classifier,
        video={"width": EVIL, "height": EVIL, "fps": EVIL, "duration_s": EVIL},
    )
    page = render_html(report)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") >= 11  # the text is shown, escaped


def test_every_cue_has_words_for_an_analyst() -> None:
    from candor.detector.model import APPEARANCE_CUE, CUE_GROUPS
    from candor.detector.timeline import CUE_WORDS

    assert set(CUE_WORDS) == {*CUE_GROUPS, APPEARANCE_CUE}
