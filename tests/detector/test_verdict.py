"""detect_video: proof through credentials, through the watermark after stripping, the classifier on
stripped outputs and real footage, and clear answers for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from candor.detector.verdict import Verdict, detect_video
from candor.errors import InvalidVideo, PayloadTooLarge


def test_released_output_is_proven_with_its_generation(released, verifier, classifier):
    report = detect_video(released.output_path, verifier=verifier, classifier=classifier)
    assert report.verdict is Verdict.CANDOR_PROVEN
    assert report.label == "Candor-generated (proven)"
    assert report.generation["generation_id"] == "gen_detectortest"
    assert report.generation["partner_pseudonym"] == "pp_detector"
    assert report.generation["consent_id"] == "cns_detectortest"
    assert report.generation["signed_at"]
    first = report.evidence[0]
    assert (first.kind, first.strength) == ("credentials", "proof")
    assert first.details["ai_generated"] is True
    data = report.to_dict()
    assert data["exit_code"] == 3 and data["verdict"] == "candor_proven"


def test_stripped_reencode_is_still_proven_through_the_watermark(stripped, verifier, classifier):
    report = detect_video(stripped, verifier=verifier, classifier=classifier)
    assert report.credentials["state"] == "Absent"
    assert report.verdict is Verdict.CANDOR_PROVEN
    assert report.generation["generation_id"] == "gen_detectortest"
    assert report.evidence[0].kind == "watermark" and report.evidence[0].strength == "proof"


def test_classifier_alone_flags_the_stripped_output(stripped, real_clip, classifier):
    from candor.detector.features import extract_video

    fake = classifier.video_probability(classifier.sample_logits(extract_video(stripped)))
    real = classifier.video_probability(classifier.sample_logits(extract_video(real_clip)))
    assert fake >= classifier.calibration.threshold > real


def test_real_clip_is_not_flagged(real_clip, verifier, classifier):
    report = detect_video(real_clip, verifier=verifier, classifier=classifier)
    assert report.verdict is Verdict.NO_EVIDENCE, report.reason
    assert report.exit_code == 0
    c = report.classifier
    assert c.samples >= 6 and c.face_track["coverage"] > 0.9
    assert [p["second"] for p in c.timeline] == [0.0, 1.0]
    assert all(0.0 <= p["probability"] <= 1.0 for p in c.timeline)


def test_not_a_video_cannot_be_analysed(tmp_path, verifier, classifier):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video")
    report = detect_video(path, verifier=verifier, classifier=classifier)
    assert report.verdict is Verdict.CANNOT_ANALYSE and report.unreadable
    assert "not a readable video" in report.reason
    assert report.to_dict()["exit_code"] == 4


def test_zero_frame_video_cannot_be_analysed(tmp_path, verifier, classifier):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))  # a header and no frame at all
    assert path.stat().st_size > 0
    report = detect_video(path, verifier=verifier, classifier=classifier)
    assert report.verdict is Verdict.CANNOT_ANALYSE and report.unreadable
    assert "no video stream" in report.reason or "no decodable frames" in report.reason


def test_video_without_a_face_cannot_be_analysed(tmp_path, verifier, classifier):
    from skimage.data import coffee

    from candor.training.detector_dataset import encode

    cup = np.ascontiguousarray(coffee()[:400, :600])
    path = encode([cup] * 20, tmp_path / "coffee.mp4", fps=25, crf=23)
    report = detect_video(path, verifier=verifier, classifier=classifier)
    assert report.verdict is Verdict.CANNOT_ANALYSE and not report.unreadable
    assert "no face" in report.reason


def test_missing_and_oversized_files_are_errors(tmp_path, released, verifier, classifier):
    with pytest.raises(InvalidVideo, match="no such file"):
        detect_video(tmp_path / "absent.mp4", verifier=verifier, classifier=classifier)
    with pytest.raises(PayloadTooLarge, match="limit"):
        detect_video(released.output_path, verifier=verifier, classifier=classifier, max_bytes=1000)


def test_a_vp9_webm_transcode_names_its_generation(released, verifier, classifier, tmp_path):
    """A WebM copy lost the MP4's credentials; the watermark still finds the generation record."""
    import av

    webm = tmp_path / "copy.webm"
    with av.open(str(released.output_path)) as source, av.open(str(webm), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=25)
        stream.width, stream.height = source.streams.video[0].width, source.streams.video[0].height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for frame in source.decode(video=0):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    report = detect_video(webm, verifier=verifier, classifier=classifier)
    assert report.credentials["state"] == "Absent"
    assert report.verdict is Verdict.CANDOR_PROVEN
    assert report.generation["generation_id"] == "gen_detectortest"
    assert report.generation["in_repository"] is True
    assert "its generation record is in the manifest repository" in report.evidence[0].finding


def test_a_synthetic_segment_is_found_named_and_flags_the_video(spliced, verifier, classifier):
    from candor.detector.model import APPEARANCE_CUE, CUE_GROUPS
    from candor.detector.timeline import MIN_SEGMENT_S

    report = detect_video(spliced, verifier=verifier, classifier=classifier)
    c = report.classifier
    assert [p["second"] for p in c.timeline] == [float(s) for s in range(10)]  # every second, not a prefix
    assert c.probability < c.threshold  # the whole-video mean alone would say "no evidence"
    assert [(g["start_s"], g["end_s"]) for g in c.segments] == [(3.0, 7.0)]
    segment = c.segments[0]
    assert segment["seconds"] >= MIN_SEGMENT_S and segment["probability"] >= c.threshold
    assert segment["cue"] in (*CUE_GROUPS, APPEARANCE_CUE)
    assert report.verdict is Verdict.SYNTHETIC_CLASSIFIER and "3-7 s" in report.reason
    finding = next(e.finding for e in report.evidence if e.kind == "classifier")
    assert "3-7 s" in finding and "sampled frames" in finding
    assert "LFW" in c.trained_on  # the shipped checkpoint says what it was trained on


def test_a_segment_with_too_few_face_samples_is_only_a_lead():
    """A cartoon's face found in a handful of sampled frames scores what it scores, but a mean over so
    few samples is not the calibrated probability: it is listed, never decisive."""
    from candor.detector.timeline import MIN_FACE_SAMPLES, MIN_SEGMENT_S, decisive_segments

    base = {"start_s": 0.0, "end_s": 3.0, "seconds": MIN_SEGMENT_S, "probability": 0.99}
    assert decisive_segments([{**base, "samples": MIN_FACE_SAMPLES}], 0.5)
    assert not decisive_segments([{**base, "samples": MIN_FACE_SAMPLES - 1}], 0.5)
    assert not decisive_segments([{**base, "samples": 12, "seconds": MIN_SEGMENT_S - 1}], 0.5)


def test_a_video_whose_face_is_seldom_found_is_sampled_again_and_says_so(
    tmp_path, astronaut_frames, verifier, classifier
):
    """A 3 s upload showing a face only around 0, 1 and 2 s: the first pass finds it in 3 of 12
    sampled frames, under the floor; the report counts the frames the second, denser look added and
    says why it looked again."""
    from candor.training.detector_dataset import encode

    grey = np.full_like(astronaut_frames[0], 128)
    shown = {25 * s + k for s in (0, 1, 2) for k in range(7)}
    frames = [astronaut_frames[i % len(astronaut_frames)] if i in shown else grey for i in range(75)]
    report = detect_video(encode(frames, tmp_path / "flicker.mp4", fps=25, crf=18), verifier=verifier,
                          classifier=classifier)  # fmt: skip
    c = report.classifier
    assert c is not None and c.samples > 3 and c.sampled_frames > 12
    assert "adaptive_sampling" in c.face_track and c.face_track["coverage"] == round(c.samples / c.sampled_frames, 3)
    finding = next(e.finding for e in report.evidence if e.kind == "classifier")
    assert f"a face in {c.samples} of {c.sampled_frames} sampled frames" in finding
    assert "looked at 3x as densely" in finding
