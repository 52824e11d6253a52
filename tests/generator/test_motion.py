import numpy as np
import pytest

from candor.errors import InvalidMotion
from candor.generator import motion


def test_layout_has_named_fields_in_order():
    assert motion.LAYOUT[:6] == ("yaw", "pitch", "roll", "tx", "ty", "scale")
    assert motion.LAYOUT[-2:] == ("gazeYaw", "gazePitch")
    for name in ("jawOpen", "eyeBlinkLeft", "mouthSmileRight", "browInnerUp", "cheekPuff"):
        assert motion.LAYOUT[motion.index(name)] == name
    assert len(set(motion.LAYOUT)) == motion.DIM


def test_npz_round_trip_keeps_fps_and_values(tmp_path):
    seq = motion.MotionSequence.neutral(10, fps=30, yaw=12.5)
    seq.values[:, motion.index("jawOpen")] = np.linspace(0, 1, 10)
    back = motion.MotionSequence.load(seq.save(tmp_path / "m.npz"))
    assert back.fps == 30
    np.testing.assert_allclose(back.values, seq.values)
    assert back.column("yaw")[0] == pytest.approx(12.5)


def test_npz_from_an_older_layout_is_remapped(tmp_path):
    np.savez(
        tmp_path / "old.npz",
        motion=np.array([[5.0, 0.7]], np.float32),
        fps=25.0,
        names=np.array(["yaw", "jawOpen"]),
    )
    seq = motion.MotionSequence.load(tmp_path / "old.npz")
    assert seq.column("yaw")[0] == 5.0 and seq.column("jawOpen")[0] == pytest.approx(0.7)
    assert seq.column("scale")[0] == 1.0


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros((4, 3)), "shape"),
        (np.zeros((0, motion.DIM)), "no frames"),
        (np.full((2, motion.DIM), np.nan), "NaN"),
    ],
)
def test_bad_motion_is_refused(values, message):
    with pytest.raises(InvalidMotion, match=message):
        motion.MotionSequence(values)


def test_unreadable_file_is_refused(tmp_path):
    (tmp_path / "m.npy").write_bytes(b"not numpy")
    with pytest.raises(InvalidMotion, match="not a readable"):
        motion.MotionSequence.load(tmp_path / "m.npy")
