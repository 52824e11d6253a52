"""Controls: the bounds hold at their edges, the record and vector forms, the fps check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candor.errors import InvalidInput
from candor.generator import controls as C
from candor.generator.controls import Controls


@pytest.mark.parametrize("name", sorted(C.BOUNDS))
def test_each_numeric_control_accepts_its_range_and_refuses_beyond_it(name: str) -> None:
    bound = C.BOUNDS[name]
    for edge in (bound.low, bound.high):
        assert getattr(Controls(**{name: edge}), name) == edge
    step = 0.01 * (bound.high - bound.low)
    for outside in (bound.low - step, bound.high + step):
        with pytest.raises(InvalidInput):
            Controls(**{name: outside})


def test_names_bounds_and_emotions_are_the_dataclass_fields() -> None:
    assert C.CONTROL_NAMES == ("gaze_yaw", "gaze_pitch", "distance", "emotion", "intensity")
    assert set(C.BOUNDS) == set(C.CONTROL_NAMES) - {"emotion"}
    with pytest.raises(InvalidInput, match="unknown emotion"):
        Controls(emotion="bored")


def test_record_carries_every_control_then_seed_and_fps() -> None:
    c = Controls(gaze_yaw=10.0, gaze_pitch=-5.0, distance=1.5, emotion="happy", intensity=0.6)
    record = c.as_record(seed=7, fps=30)
    assert list(record) == [*C.CONTROL_NAMES, "seed", "fps"]
    assert record == {
        "gaze_yaw": 10.0, "gaze_pitch": -5.0, "distance": 1.5, "emotion": "happy", "intensity": 0.6,
        "seed": 7, "fps": 30,
    }  # fmt: skip
    assert Controls(**c.as_dict()) == c


def test_condition_vector_is_normalized_by_the_gaze_bounds() -> None:
    v = Controls(
        gaze_yaw=C.GAZE_YAW.high, gaze_pitch=-C.GAZE_PITCH.high / 2, distance=2.0, emotion="sad", intensity=0.4
    )
    vector = v.to_vector()
    assert vector.dtype == np.float32 and vector.shape == (C.CONTROL_DIM,)
    np.testing.assert_allclose(vector[:3], [1.0, -0.5, math.log(2.0)], rtol=1e-6)
    assert vector[3 + C.EMOTIONS.index("sad")] == pytest.approx(0.4)
    assert Controls().to_vector()[3 + C.EMOTIONS.index("neutral")] == 1.0


def test_fps_check_holds_the_product_range() -> None:
    for fps in (C.FPS.low, C.DEFAULT_FPS, C.FPS.high):
        C.check_fps(fps)
    for fps in (C.FPS.low - 1, C.FPS.high + 0.5, math.nan):
        with pytest.raises(InvalidInput, match=f"fps must be within {C.FPS.low}-{C.FPS.high}"):
            C.check_fps(fps)
    assert C.DEFAULT_FPS in C.FPS
