"""The one relative-to-absolute conversion (motion.to_absolute) against the three it replaces."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from candor.generator import motion
from candor.generator.animator import relative_to_source
from candor.generator.motion import SCALE, MotionSequence, to_absolute
from candor.generator.pipeline import to_absolute as pipeline_to_absolute
from candor.generator.reenact import transfer_motion


def _random_motion(rng: np.random.Generator, frames: int) -> np.ndarray:
    values = rng.uniform(motion.LOWER, motion.UPPER, (frames, motion.DIM)).astype(np.float32)
    values[:, SCALE] = rng.uniform(0.6, 1.6, frames)
    return values


@pytest.mark.parametrize("seed", range(20))
def test_new_conversion_reproduces_the_three_old_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    baseline = _random_motion(rng, 1)[0]
    source = SimpleNamespace(baseline=baseline)

    # animator: offsets around the baseline, the scale offset around 0 -> a ratio 1 + offset.
    offsets = rng.normal(0, 0.3, (40, motion.DIM)).astype(np.float32)
    ratio = offsets.copy()
    ratio[:, SCALE] = 1.0 + offsets[:, SCALE]
    assert np.array_equal(relative_to_source(source, offsets), to_absolute(baseline, ratio))

    # pipeline: the model's relative motion already carries scale as a ratio.
    rel = _random_motion(rng, 40)
    assert np.array_equal(pipeline_to_absolute(source, rel), to_absolute(baseline, rel))
    assert np.array_equal(pipeline_to_absolute(source, rel[0]), to_absolute(baseline, rel[0]))

    # reenact: the change from the driving video's first frame; scale as the driving ratio.
    driving = MotionSequence(_random_motion(rng, 40), 30.0)
    for pose, dynamics, gaze in [(True, True, True), (False, True, False), (True, False, True)]:
        old = transfer_motion(source, driving, pose=pose, dynamics=dynamics, gaze=gaze).values
        d = driving.values - driving.values[:1]
        change = np.zeros_like(d)
        change[:, SCALE] = 1.0
        if pose:
            change[:, motion.POSE_SLICE] = d[:, motion.POSE_SLICE]
            change[:, SCALE] = driving.values[:, SCALE] / max(float(driving.values[0, SCALE]), 1e-3)
        if dynamics:
            change[:, motion.BLENDSHAPE_SLICE] = d[:, motion.BLENDSHAPE_SLICE]
        if gaze:
            change[:, motion.GAZE_SLICE] = d[:, motion.GAZE_SLICE]
        new = np.clip(to_absolute(baseline, change), motion.LOWER, motion.UPPER)
        others = np.arange(motion.DIM) != SCALE
        assert np.array_equal(old[:, others], new[:, others])
        # b * s / s0 was rounded after the product, b * (s / s0) after the ratio: float32 ulps.
        ulps = np.abs(old[:, SCALE].view(np.int32) - new[:, SCALE].view(np.int32))
        assert ulps.max() <= 2
