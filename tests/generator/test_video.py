import subprocess

import numpy as np
import pytest

from candor.errors import InvalidAudio, InvalidInput, InvalidVideo
from candor.generator.video import VideoWriter, probe, read_frames


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Testing the video writer with real speech."], check=True)
    return path


def _frames(n: int):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
    for i in range(n):
        yield np.roll(base, i, axis=1)


@pytest.mark.parametrize("fps", [15, 25, 30, 60])
def test_mp4_properties_read_back(tmp_path, speech_wav, fps):
    import soundfile as sf

    duration = sf.info(str(speech_wav)).duration
    n = int(np.ceil(duration * fps))
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, fps=fps, audio_path=speech_wav) as writer:
        for frame in _frames(n):
            writer.write(frame)
    info = probe(out)
    assert info.frames == n
    assert info.fps == pytest.approx(fps)
    assert (info.width, info.height) == (512, 512)
    assert info.codec == "h264"
    assert info.audio_duration is not None
    assert abs(info.audio_duration - duration) <= 1.0 / fps


def test_frames_come_back_in_order(tmp_path):
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, fps=25, crf=12) as writer:
        for i in range(10):
            writer.write(np.full((512, 512, 3), 20 * i, np.uint8))
    means = [f.mean() for f in read_frames(out)]
    assert len(means) == 10
    assert np.all(np.diff(means) > 10)


def test_failure_mid_write_leaves_no_file(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(InvalidInput, match="frame must be"), VideoWriter(out, fps=25) as writer:
        writer.write(np.zeros((512, 512, 3), np.uint8))
        writer.write(np.zeros((100, 100, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_bad_fps_and_audio(tmp_path):
    with pytest.raises(InvalidInput, match="fps"):
        VideoWriter(tmp_path / "a.mp4", fps=120)
    with pytest.raises(InvalidAudio, match="not found"):
        VideoWriter(tmp_path / "a.mp4", audio_path=tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(InvalidAudio), VideoWriter(tmp_path / "a.mp4", audio_path=junk) as writer:
        writer.write(np.zeros((512, 512, 3), np.uint8))
    assert not (tmp_path / "a.mp4").exists()


def test_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    with pytest.raises(InvalidVideo):
        list(read_frames(bad))
    with pytest.raises(InvalidVideo):
        probe(tmp_path / "missing.mp4")
