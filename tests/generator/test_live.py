"""The live motion stream: as many frames as offline, the first one after 72 ms of audio, a bounded
wait for every later one, and controls that change between windows. No timing is asserted."""

from __future__ import annotations

import numpy as np
import pytest

from candor.errors import InvalidAudio, InvalidInput
from candor.generator.audio import frame_count, iter_chunks, load_audio
from candor.generator.controls import Controls
from candor.generator.live import MotionStream, Schedule
from candor.generator.motion import DIM, GAZE_SLICE, LOWER, UPPER, index
from candor.generator.motion_generator import JOIN_TAU, MotionGenerator, ease_join


@pytest.fixture(scope="module")
def generator() -> MotionGenerator:
    return MotionGenerator.from_checkpoint()


@pytest.fixture(scope="module")
def speech(tmp_path_factory, speech_wav) -> np.ndarray:
    path = tmp_path_factory.mktemp("live") / "speech.wav"
    path.write_bytes(speech_wav)
    return load_audio(path, None)


def run(stream: MotionStream, samples: np.ndarray, chunk_s: float = 0.02) -> tuple[np.ndarray, list[int]]:
    """All frames, and for each frame the audio samples pushed when it came out."""
    frames, heard_at, heard = [], [], 0
    for chunk in iter_chunks(samples, chunk_s):
        heard += len(chunk)
        out = stream.push(chunk)
        frames.append(out)
        heard_at += [heard] * len(out)
    tail = stream.finish()
    return np.concatenate([*frames, tail]), heard_at + [heard] * len(tail)


@pytest.mark.parametrize("schedule", [Schedule(), Schedule(1, 2, 2), Schedule(2, 3, 0)])
def test_as_many_frames_as_offline_and_each_after_a_bounded_wait(generator, speech, schedule):
    frames, heard_at = run(MotionStream(generator, schedule=schedule), speech)
    assert frames.shape == (frame_count(len(speech), 25), DIM)
    assert np.isfinite(frames).all()
    # The first frame comes once its 40 ms and the 32 ms analysis half-window are heard (20 ms chunks).
    if schedule.first == 1:
        assert heard_at[0] <= 16000 * 0.08
    # No frame before the stream's end waits longer than the schedule allows (plus one chunk).
    bound = schedule.max_audio_lag_s(25) + 0.02
    for i, heard in enumerate(heard_at[: -schedule.emit - schedule.lookahead - 2]):
        assert heard / 16000 <= (i + 1) / 25 + bound + 1e-9, i


def test_short_chunks_held_back_until_they_complete_a_frame_delay_nothing(generator, speech):
    # The stream analyses audio only once it completes a frame; finer chunks must still give every
    # frame no later than coarser ones do, and the same motion.
    fine, fine_at = run(MotionStream(generator, seed=1), speech, chunk_s=0.005)
    coarse, coarse_at = run(MotionStream(generator, seed=1), speech, chunk_s=0.02)
    assert len(fine) == len(coarse)
    assert all(f <= c for f, c in zip(fine_at, coarse_at, strict=True))
    np.testing.assert_allclose(fine, coarse, atol=1e-3)


def test_the_mouth_follows_the_speech(generator, speech):
    frames, _ = run(MotionStream(generator), speech)
    jaw = frames[:, index("jawOpen")]
    from candor.generator.audio import audio_features

    energy = audio_features(speech)[:, 40]
    assert np.corrcoef(jaw, energy)[0, 1] > 0.3


def test_streamed_mouth_moves_as_the_offline_paths(generator, speech):
    # A live window is cut short by the stream, not by the end of the speech: sampled as if silence
    # followed (as a clip's last window is), the model closed the mouth ahead of time.
    frames, _ = run(MotionStream(generator), speech)
    offline = generator.generate(speech, seed=0).column("jawOpen")
    assert np.corrcoef(frames[:, index("jawOpen")], offline)[0, 1] > 0.7


def test_streamed_mouth_moves_as_fast_as_the_offline_one(generator, speech):
    # Offline windows are eased onto the trajectory before them every 2 s; live windows come every
    # two frames, and easing the mouth there low-passed it (syllables and lip closures blurred).
    frames, _ = run(MotionStream(generator), speech)
    jaw = index("jawOpen")
    offline = generator.generate(speech, seed=0).values
    speed = np.abs(np.diff(frames[:, jaw])).mean() / np.abs(np.diff(offline[:, jaw])).mean()
    assert speed > 0.9


def test_ease_join_leaves_fields_without_a_time_constant_alone():
    rng = np.random.default_rng(0)
    last, window = (LOWER + rng.random((n, DIM), np.float32) * (UPPER - LOWER) for n in (2, 4))
    tau = JOIN_TAU.copy()
    tau[:5] = 0.0
    eased = ease_join(last, window, tau)
    np.testing.assert_array_equal(eased[:, :5], window[:, :5])
    assert not np.allclose(eased[0, 5:], window[0, 5:])


def test_controls_change_between_windows(generator, speech):
    half = len(speech) // 2
    plain = MotionStream(generator, seed=3)
    changed = MotionStream(generator, seed=3)
    a = np.concatenate([plain.push(speech[:half]), plain.push(speech[half:]), plain.finish()])
    first = changed.push(speech[:half])
    changed.set_controls(Controls(gaze_yaw=25.0))
    b = np.concatenate([first, changed.push(speech[half:]), changed.finish()])
    n = len(first)
    np.testing.assert_array_equal(a[:n], b[:n])  # nothing before the change moves
    yaw = GAZE_SLICE.start  # gaze yaw (degrees), then pitch
    assert b[n + 10 :, yaw].mean() > a[n + 10 :, yaw].mean() + 5.0


def test_bad_use_is_refused(generator):
    with pytest.raises(InvalidInput):
        Schedule(first=0)
    stream = MotionStream(generator)
    with pytest.raises(InvalidAudio):
        stream.finish()
    with pytest.raises(InvalidInput):
        stream.push(np.zeros(160, np.float32))
