import numpy as np
import pytest

from candor.errors import NoFaceFound
from candor.generator import motion
from candor.generator.extract import MotionExtractor, extract_motion
from candor.generator.rig import pose_target

CHECKED = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "mouthPucker")


def _known_motion(source, frames: int = 40, seed: int = 0) -> np.ndarray:
    t = np.arange(frames) / 25
    v = np.tile(source.baseline, (frames, 1))
    v[:, 0] += 12 * np.sin(2 * np.pi * t / 1.6)
    v[:, 1] += 8 * np.sin(2 * np.pi * t / 1.2)
    v[:, 2] += 5 * np.sin(2 * np.pi * t / 2.0)
    v[:, motion.index("jawOpen")] = np.clip(0.5 + 0.5 * np.sin(2 * np.pi * t / 0.8), 0, 1)
    blink = np.clip(np.sin(2 * np.pi * t / 1.6), 0, 1)
    v[:, motion.index("eyeBlinkLeft")] = v[:, motion.index("eyeBlinkRight")] = blink
    smile = np.clip(np.cos(2 * np.pi * t / 1.6), 0, 1) * 0.8
    v[:, motion.index("mouthSmileLeft")] = v[:, motion.index("mouthSmileRight")] = smile
    v[:, motion.index("gazeYaw")] += 15 * np.sin(2 * np.pi * t / 1.0)
    return v


def test_geometric_round_trip_recovers_motion(astronaut_face):
    """Rig landmarks for random motion -> extractor -> the same motion (exact geometry)."""
    rng = np.random.default_rng(1)
    extractor = MotionExtractor.from_source(astronaut_face)
    errors = []
    for _ in range(15):
        v = astronaut_face.baseline.copy()
        v[:3] += rng.uniform(-15, 15, 3)
        v[3:5] += rng.uniform(-0.05, 0.05, 2)
        v[5] *= rng.uniform(0.9, 1.1)
        for name in CHECKED:
            v[motion.index(name)] = rng.uniform(0, 1)
        v[motion.index("gazeYaw")] = rng.uniform(-20, 20)
        v[motion.index("gazePitch")] = rng.uniform(-10, 10)
        errors.append(np.abs(extractor.fit(pose_target(astronaut_face, v).landmarks) - v))
    worst = np.max(errors, axis=0)
    assert worst[:3].max() < 0.5  # degrees
    assert worst[3:6].max() < 0.01
    for name in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileRight", "mouthPucker"):
        assert worst[motion.index(name)] < 0.1, name
    assert worst[motion.index("gazeYaw")] < 1.0 and worst[motion.index("gazePitch")] < 1.0


def test_render_then_extract_round_trip(astronaut_face):
    """Render known motion with the decoder, extract it back from the pixels."""
    from candor.generator.animator import Animator

    known = _known_motion(astronaut_face)
    animator = Animator(astronaut_face)
    frames = [animator.frame(v) for v in known]
    got = extract_motion(frames, fps=25, reference=astronaut_face).values
    assert got.shape == known.shape
    # Through pixels the recovery is lossy (a 2D warp shows less parallax than a real head turn,
    # and mediapipe re-estimates depth), so check the shape of each curve and a bounded error.
    for name, min_corr in (
        ("yaw", 0.95), ("pitch", 0.9), ("roll", 0.95), ("jawOpen", 0.9),
        ("eyeBlinkLeft", 0.9), ("eyeBlinkRight", 0.9), ("mouthSmileLeft", 0.8), ("mouthSmileRight", 0.8),
        ("gazeYaw", 0.7),
    ):  # fmt: skip
        i = motion.index(name)
        assert np.corrcoef(got[:, i], known[:, i])[0, 1] > min_corr, name
    for name, tolerance in (("yaw", 6.0), ("pitch", 4.0), ("roll", 2.0), ("jawOpen", 0.3), ("eyeBlinkLeft", 0.25)):
        i = motion.index(name)
        assert np.abs(got[:, i] - known[:, i]).mean() < tolerance, name
    assert np.abs(got[:, 3:5] - known[:, 3:5]).max() < 0.02


def test_video_without_a_face_is_refused():
    frames = [np.full((256, 256, 3), 90, np.uint8)] * 3
    with pytest.raises(NoFaceFound, match="no face found in any frame"):
        extract_motion(frames, fps=25)
