"""The one relative-to-absolute conversion (motion.to_absolute) and the three ways motion reaches
it: model output (scale a ratio), offsets files (scale an offset around 0), driving videos."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from candor.generator import motion
from candor.generator.animator import relative_to_source
from candor.generator.motion import SCALE, MotionSequence, to_absolute
from candor.generator.reenact import transfer_motion


@pytest.fixture
def baseline() -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.uniform(motion.LOWER, motion.UPPER).astype(np.float32)
    v[SCALE] = 1.2
    return v


def test_scale_index_is_the_layouts():
    assert motion.LAYOUT[SCALE] == "scale" and motion.index("scale") == SCALE


def test_identity_relative_motion_is_the_portrait(baseline):
    identity = motion.neutral_vector()  # zeros with scale 1
    out = to_absolute(baseline, identity)
    assert out.shape == (1, motion.DIM) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], baseline)


def test_fields_add_and_scale_multiplies(baseline):
    rel = motion.neutral_vector(yaw=5.0, tx=0.1, scale=0.5)
    rel[motion.index("jawOpen")] = 0.3
    rel[motion.index("gazePitch")] = -4.0
    out = to_absolute(baseline, np.stack([rel, rel]))
    assert out.shape == (2, motion.DIM)
    for name, delta in [("yaw", 5.0), ("tx", 0.1), ("jawOpen", 0.3), ("gazePitch", -4.0), ("roll", 0.0)]:
        assert out[1, motion.index(name)] == pytest.approx(baseline[motion.index(name)] + delta, abs=1e-5)
    assert out[1, SCALE] == pytest.approx(baseline[SCALE] * 0.5)


def test_scale_can_be_given_against_a_reference(baseline):
    rel = np.tile(motion.neutral_vector(scale=0.9), (2, 1))
    out = to_absolute(baseline, rel, scale_reference=0.6)
    assert out[0, SCALE] == pytest.approx(baseline[SCALE] * 1.5)


def test_offsets_put_the_scale_around_zero(baseline):
    source = SimpleNamespace(baseline=baseline)
    offsets = np.zeros((3, motion.DIM), np.float32)
    np.testing.assert_array_equal(relative_to_source(source, offsets), np.tile(baseline, (3, 1)))
    offsets[:, SCALE] = 0.1
    offsets[:, motion.index("pitch")] = -3.0
    out = relative_to_source(source, offsets)
    assert out[0, SCALE] == pytest.approx(baseline[SCALE] * 1.1)
    assert out[0, motion.index("pitch")] == pytest.approx(baseline[motion.index("pitch")] - 3.0)
    assert offsets[0, SCALE] == pytest.approx(0.1)  # the caller's array is left as it was


def test_reenactment_applies_the_driving_change_per_group(baseline):
    source = SimpleNamespace(baseline=baseline)
    values = np.tile(motion.neutral_vector(yaw=10.0, scale=0.8), (2, 1))
    values[1, motion.index("yaw")] = 16.0
    values[1, SCALE] = 1.0  # the driving face grows by 25%
    values[1, motion.index("jawOpen")] = 0.4
    values[1, motion.index("gazeYaw")] = 7.0
    driving = MotionSequence(values, 30.0)

    out = transfer_motion(source, driving)
    assert out.fps == 30.0
    expected_first = np.clip(baseline, motion.LOWER, motion.UPPER)
    np.testing.assert_allclose(out.values[0], expected_first, atol=1e-6)  # no change yet: the portrait
    assert out.values[1, motion.index("yaw")] == pytest.approx(min(baseline[motion.index("yaw")] + 6.0, 45.0))
    assert out.values[1, SCALE] == pytest.approx(baseline[SCALE] * 1.25)
    assert out.values[1, motion.index("jawOpen")] == pytest.approx(min(baseline[motion.index("jawOpen")] + 0.4, 1))

    still = transfer_motion(source, driving, pose=False, dynamics=False, gaze=False)
    np.testing.assert_allclose(still.values, np.tile(expected_first, (2, 1)), atol=1e-6)
    no_pose = transfer_motion(source, driving, pose=False)
    assert no_pose.values[1, SCALE] == pytest.approx(baseline[SCALE])
    assert no_pose.values[1, motion.index("gazeYaw")] == pytest.approx(
        np.clip(baseline[motion.index("gazeYaw")] + 7.0, -35, 35)
    )
