"""The blink floor: blinks are added where the motion goes too long without one, and only there."""

import numpy as np
import pytest

from candor.generator import motion as M
from candor.generator.blink_floor import GAP_S, ONSET, BlinkFloor, blink_shape
from candor.generator.motion_generator import MotionGenerator

FPS = 25.0
LIDS = [M.index("eyeBlinkLeft"), M.index("eyeBlinkRight")]


def onsets(motion: np.ndarray) -> np.ndarray:
    closed = motion[:, LIDS].mean(axis=1) > ONSET
    return np.flatnonzero(closed[1:] & ~closed[:-1]) + 1


def run(floor: BlinkFloor, motion: np.ndarray, window: int) -> np.ndarray:
    return np.concatenate([floor(motion[i : i + window]) for i in range(0, len(motion), window)])


def test_an_added_blink_closes_the_lids_on_a_frame_and_opens_them_again():
    shape = blink_shape(0.2, 1.0, FPS)
    assert shape.max() == pytest.approx(1.0)  # the apex sits on a frame
    apex = int(np.argmax(shape))
    assert shape[0] < 0.6 and shape[-1] < 0.5  # starts and ends part-open (the next frames are open)
    assert np.all(np.diff(shape[: apex + 1]) > 0) and np.all(np.diff(shape[apex:]) < 0)  # one close, one open
    assert 3 <= len(shape) <= 8  # a blink lasts a few frames at 25 fps


def test_motion_without_blinks_gets_them_at_the_floor_rate_across_windows():
    still = np.tile(M.neutral_vector(), (int(60 * FPS), 1))
    out = run(BlinkFloor(FPS, seed=1), still, window=50)
    gaps = np.diff(onsets(out)) / FPS
    per_minute = len(onsets(out))
    assert 60 / GAP_S[1] <= per_minute <= 60 / GAP_S[0] + 1
    assert gaps.min() >= GAP_S[0] - 0.1 and gaps.max() <= GAP_S[1] + 0.3
    # The same seed gives the same blinks however the clip is cut into windows.
    np.testing.assert_array_equal(out, run(BlinkFloor(FPS, seed=1), still, window=7))
    assert not np.array_equal(onsets(out), onsets(run(BlinkFloor(FPS, seed=2), still, window=50)))


def test_motion_that_blinks_often_enough_is_left_alone():
    motion = np.tile(M.neutral_vector(), (int(30 * FPS), 1))
    for apex in range(20, len(motion) - 5, int(2.0 * FPS)):  # its own blink every 2 s
        motion[apex - 1 : apex + 2][:, LIDS] = [[0.6, 0.6], [1.0, 1.0], [0.5, 0.5]]
    out = run(BlinkFloor(FPS, seed=0), motion, window=50)
    np.testing.assert_array_equal(out, motion)


def test_the_generator_blinks_at_least_at_the_floor_and_can_measure_the_model_alone():
    generator = MotionGenerator.from_checkpoint()
    rng = np.random.default_rng(0)
    # 30 s of a quiet room: nothing in the audio asks for a blink.
    audio = (rng.normal(0, 1e-3, 30 * 16000)).astype(np.float32)
    with_floor = generator.generate(audio, seed=0).values
    assert len(onsets(with_floor)) >= 30 / GAP_S[1] - 1
    generator.blink_floor = False
    alone = generator.generate(audio, seed=0).values
    assert len(onsets(alone)) <= len(onsets(with_floor))
    # Nothing differs before the first blink begins (an added one starts closing <= 2 frames earlier).
    first = onsets(with_floor)[0] - 3
    np.testing.assert_allclose(with_floor[:first], alone[:first], atol=1e-6)
