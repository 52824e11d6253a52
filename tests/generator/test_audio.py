import math
import subprocess

import numpy as np
import pytest

from candor.errors import AudioTooLong, InvalidAudio
from candor.generator import audio as A
from candor.generator.controls import SAMPLE_RATE

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it rests."


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True)
    return path


@pytest.fixture(scope="module")
def speech(speech_wav):
    return A.load_audio(speech_wav, max_seconds=None)


def test_loads_as_16k_mono_float(speech_wav, speech):
    import soundfile as sf

    native, sr = sf.read(speech_wav, dtype="float32")
    assert speech.dtype == np.float32 and speech.ndim == 1
    assert abs(len(speech) / SAMPLE_RATE - len(native) / sr) < 0.01
    assert np.abs(speech).max() <= 1.0


def test_any_rate_and_channel_count_gives_the_same_features(speech_wav, speech, tmp_path):
    stereo = tmp_path / "stereo44k.flac"
    subprocess.run(["sox", str(speech_wav), "-r", "44100", "-c", "2", str(stereo)], check=True)
    other = A.load_audio(stereo, max_seconds=None)
    assert abs(len(other) - len(speech)) < 0.01 * SAMPLE_RATE
    f1, f2 = A.audio_features(speech), A.audio_features(other)
    n = min(len(f1), len(f2))
    energy = A.N_MELS  # the energy column
    assert np.corrcoef(f1[:n, energy], f2[:n, energy])[0, 1] > 0.97


def test_feature_frames_follow_the_frame_rate(speech):
    seconds = len(speech) / SAMPLE_RATE
    for fps in (25, 30):
        f = A.audio_features(speech, fps=fps)
        assert f.shape == (math.ceil(seconds * fps), A.FEATURE_DIM)
        assert f.dtype == np.float32 and np.isfinite(f).all()


def test_features_ignore_recording_gain(speech):
    loud, quiet = A.audio_features(speech), A.audio_features(0.05 * speech)
    assert np.abs(loud - quiet).mean() < 0.02


def test_a_clip_analysed_in_blocks_gives_the_features_of_one_analysis(speech, monkeypatch):
    # Long clips are analysed RAW_BLOCK frames at a time (flat memory); block edges must not show.
    clip = np.concatenate([speech, 0.5 * speech[::-1]])
    whole = A.audio_features(clip)
    monkeypatch.setattr(A, "RAW_BLOCK", 37)  # many blocks, edges inside speech
    np.testing.assert_allclose(A.audio_features(clip), whole, atol=1e-6)


def test_speech_and_pauses_are_told_apart(speech):
    f = A.audio_features(np.concatenate([np.zeros(8000, np.float32), speech]))
    energy = f[:, A.N_MELS]
    assert energy[:11].max() == pytest.approx(A.FLOOR)  # the leading 0.5 s of silence
    assert np.percentile(energy[20:], 90) > -0.3


def test_silence_maps_to_the_floor_not_to_amplified_noise():
    hiss = np.random.default_rng(0).normal(0, 1e-5, 32000).astype(np.float32)  # -100 dBFS
    np.testing.assert_array_equal(A.audio_features(np.zeros(32000, np.float32)), A.silence_features(50))
    assert np.abs(A.audio_features(hiss) - A.silence_features(50)).max() < 1e-6


def test_streaming_frames_match_offline_framing(speech):
    offline = A.audio_features(speech)
    stream = A.FeatureStream()
    out = [stream.push(c) for c in A.iter_chunks(speech, 0.07)] + [stream.push(np.zeros(0), final=True)]
    online = np.concatenate(out)
    assert online.shape == offline.shape
    # Running statistics differ from whole-utterance ones only slightly.
    assert np.abs(online - offline).mean() < 0.15
    assert np.corrcoef(online[:, A.N_MELS], offline[:, A.N_MELS])[0, 1] > 0.98


def test_stream_emits_frames_while_audio_arrives(speech):
    stream = A.FeatureStream()
    first = stream.push(speech[:8000])  # 0.5 s
    assert 10 <= len(first) <= 12  # all but the frames still waiting for look-ahead


def test_unreadable_file_is_invalid_audio(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    with pytest.raises(InvalidAudio):
        A.load_audio(junk, max_seconds=None)
    text = tmp_path / "notes.mp3"
    text.write_text("hello")
    with pytest.raises(InvalidAudio):
        A.load_audio(text, max_seconds=None)
    with pytest.raises(InvalidAudio, match="not found"):
        A.load_audio(tmp_path / "missing.wav", max_seconds=None)


def test_empty_audio_is_invalid(tmp_path):
    import soundfile as sf

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(InvalidAudio, match="no audio samples"):
        A.load_audio(empty, max_seconds=None)
    with pytest.raises(InvalidAudio):
        A.audio_features(np.zeros(0, np.float32))


def test_audio_over_the_maximum_is_refused(speech_wav):
    with pytest.raises(AudioTooLong, match="maximum"):
        A.load_audio(speech_wav, max_seconds=1.0)


def test_the_limit_is_the_callers_not_the_settings(speech_wav, monkeypatch):
    from candor.config import get_settings

    monkeypatch.setenv("CANDOR_MAX_AUDIO_SECONDS", "0.5")
    get_settings.cache_clear()
    try:
        samples = A.load_audio(speech_wav, max_seconds=None)  # no limit, whatever the settings say
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert len(samples) / SAMPLE_RATE > 1.0


def test_image_file_is_not_audio(tmp_path):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(InvalidAudio):
        A.load_audio(path, max_seconds=None)
