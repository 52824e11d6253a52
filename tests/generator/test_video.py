import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from candor.errors import CandorError, InvalidAudio, InvalidInput, InvalidVideo
from candor.generator.encoder import EncoderProcess
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


def test_audio_is_encoded_as_the_frames_come_and_trimmed_to_them(tmp_path):
    """The audio goes into the file a second at a time beside the frames: the muxer never holds the
    video back waiting for it (memory flat, nothing left for the close), and what decodes is the
    source's samples up to the video's end."""
    import av
    import soundfile as sf

    rate = 16000
    t = np.arange(8 * rate) / rate
    source = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2).astype(np.float32)
    wav = tmp_path / "tone.wav"
    sf.write(wav, source, rate)
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, fps=25, audio_path=wav) as writer:
        frames = list(_frames(25))
        for i in range(100):  # 4 s
            writer.write(frames[i % 25])
        (partial,) = [p for p in tmp_path.iterdir() if p.name not in ("tone.wav", "clip.mp4")]
        written_after_4s = partial.stat().st_size
        for i in range(63):  # 6.52 s in all: a remainder past the last whole second
            writer.write(frames[i % 25])
    assert written_after_4s > 0.4 * out.stat().st_size
    with av.open(str(out)) as container:
        decoded = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    # AAC's priming delay shifts the decoded samples; compare the waveform away from the edges.
    assert abs(len(decoded) - 6.52 * rate) < 2048
    lag = int(np.argmax(np.correlate(decoded[:4000], source[:2000], mode="valid")))
    part = decoded[lag + 2000 : lag + 96000]
    assert np.corrcoef(part, source[2000:96000])[0, 1] > 0.95


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


# The encoder in a child process (generator/encoder.py) behaves as the in-process writer: same
# file, same errors, nothing left behind when anything fails.


def test_same_video_as_the_in_process_writer(tmp_path, speech_wav):
    outputs = {}
    for writer_type in (VideoWriter, EncoderProcess):
        out = tmp_path / f"{writer_type.__name__}.mp4"
        with writer_type(out, fps=25, audio_path=speech_wav) as writer:
            for frame in _frames(30):
                writer.write(frame)
        assert writer.frames_written == 30
        outputs[writer_type] = out
    a, b = (probe(p) for p in outputs.values())
    assert a == b and a.frames == 30 and a.audio_duration is not None
    for x, y in zip(*(read_frames(p) for p in outputs.values()), strict=True):
        assert np.array_equal(x, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EncoderProcess.mp4", "VideoWriter.mp4"]


def test_the_caller_may_reuse_its_frame_at_once(tmp_path):
    """Frames go through a shared ring of a few slots: each is copied when written, and a caller that
    writes many more frames than there are slots, into one reused array, gets every one of them."""
    from candor.generator.encoder import SLOTS

    out = tmp_path / "clip.mp4"
    frame = np.zeros((512, 512, 3), np.uint8)
    levels = [(40 * i) % 250 for i in range(3 * SLOTS)]
    with EncoderProcess(out, fps=25, crf=0) as writer:
        for level in levels:
            frame[:] = level
            writer.write(frame)
    seen = [int(np.median(f)) for f in read_frames(out)]
    assert np.allclose(seen, levels, atol=2)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
def test_no_descriptor_or_mapping_outlives_an_encode(tmp_path):
    """The ring's shared file and the slot pipe are closed and unmapped after a finished, an
    abandoned and a failed encode alike."""

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def ring_maps() -> int:
        return Path("/proc/self/maps").read_text().count("candor-frames")

    before = open_fds(), ring_maps()
    with EncoderProcess(tmp_path / "ok.mp4", fps=25) as writer:
        for frame in _frames(6):
            writer.write(frame)
    with pytest.raises(RuntimeError), EncoderProcess(tmp_path / "gone.mp4", fps=25) as writer:
        writer.write(next(_frames(1)))
        raise RuntimeError("renderer failed")
    with pytest.raises(InvalidInput), EncoderProcess(tmp_path / "bad.mp4", fps=25) as writer:
        writer.write(np.zeros((8, 8, 3), np.uint8))
    import gc

    gc.collect()
    assert (open_fds(), ring_maps()) == before


def test_arguments_and_frames_are_checked_in_the_caller(tmp_path):
    with pytest.raises(InvalidInput, match="fps"):
        EncoderProcess(tmp_path / "x.mp4", fps=1000)
    with pytest.raises(InvalidAudio, match="not found"):
        EncoderProcess(tmp_path / "x.mp4", fps=25, audio_path=tmp_path / "missing.wav")
    with pytest.raises(InvalidInput, match="frame must be"), EncoderProcess(tmp_path / "x.mp4", fps=25) as writer:
        writer.write(next(_frames(1)))
        writer.write(np.zeros((100, 100, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_the_childs_error_reaches_the_caller_as_its_own_type(tmp_path):
    """An audio file PyAV cannot read fails in the child; the caller gets InvalidAudio, no file."""
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"this is not a wav file at all" * 100)
    out = tmp_path / "out" / "clip.mp4"
    with pytest.raises(InvalidAudio, match="cannot read audio"), EncoderProcess(out, fps=25, audio_path=bad) as writer:
        for frame in _frames(200):  # the child stops at the header; a write or the close reports it
            writer.write(frame)
    assert list(out.parent.iterdir()) == []


def test_an_abandoned_encode_publishes_nothing(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="renderer failed"), EncoderProcess(out, fps=25) as writer:
        for frame in _frames(5):
            writer.write(frame)
        raise RuntimeError("renderer failed")
    assert writer._proc.returncode is not None  # the child is gone
    assert list(tmp_path.iterdir()) == []


def test_a_killed_encoder_is_an_error_and_leaves_no_files(tmp_path):
    out = tmp_path / "take [1].mp4"  # the child's temporary file is found by name, brackets and all
    with pytest.raises(CandorError, match="encoder"), EncoderProcess(out, fps=25) as writer:
        for i, frame in enumerate(_frames(400)):
            writer.write(frame)
            if i == 20:
                os.kill(writer._proc.pid, signal.SIGKILL)
    assert list(tmp_path.iterdir()) == []
