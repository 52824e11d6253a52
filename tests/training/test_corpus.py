"""Corpus builder: TTS timings, visemes, non-verbal motion, split, on-disk format, CLI."""

from __future__ import annotations

import itertools
import json
import math
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from candor.cli import app
from candor.errors import InvalidInput
from candor.generator import motion as M
from candor.generator.controls import CONTROL_DIM, Controls
from candor.training.corpus import labels, nonverbal, text, tts, visemes
from candor.training.corpus.build import build_corpus, plan_utterance, read_manifest
from candor.training.corpus.voices import VAL_ENGINE, Voice, split_of

BILABIALS = ("p", "b", "m")


def _check_cover(speech: tts.Speech) -> None:
    ph = speech.phonemes
    assert ph[0][0] == 0.0
    assert ph[-1][1] == pytest.approx(speech.duration, abs=1e-6)
    for (s0, e0, _), (s1, _e1, _) in itertools.pairwise(ph):
        assert s0 < e0 <= s1 + 1e-9 and e0 == pytest.approx(s1)  # contiguous and increasing
    assert all(e > s for s, e, _ in ph)


@pytest.fixture(scope="module")
def espeak() -> tts.Espeak:
    return tts.Espeak.shared()


def test_espeak_phonemes_are_monotonic_and_cover_the_audio(espeak):
    speech = espeak.synth("Bob bought a map, maybe. Then he went home.", "en-us+m3", rate=170)
    assert speech.audio.dtype == np.float32 and 1.5 < speech.duration < 6
    _check_cover(speech)
    symbols = [p for _, _, p in speech.phonemes]
    assert symbols.count("b") >= 2 and "m" in symbols and tts.SILENCE in symbols
    # The lag correction moves events earlier, never before 0, and the audio is 16 kHz.
    assert len(speech.audio) == pytest.approx(speech.duration * 16000)


def test_espeak_output_depends_only_on_its_inputs(espeak):
    # espeak-ng keeps state between utterances (voice flutter, libc rand() for breathy variants):
    # the same request must give the same samples whatever was spoken before.
    first = espeak.synth("Мама мыла раму.", "ru+f3", 170, 50, 50)
    for voice in ("de+klatt", "en-us+f3", "fr+m1"):
        espeak.synth("Something else entirely.", voice, 210, 30, 80)
    again = espeak.synth("Мама мыла раму.", "ru+f3", 170, 50, 50)
    np.testing.assert_array_equal(first.audio, again.audio)
    assert first.phonemes == again.phonemes


@pytest.mark.parametrize("language", text.LANGUAGES)
def test_every_language_speaks_in_its_own_phonology(espeak, language):
    from candor.training.corpus.voices import ESPEAK_LANGUAGE_VOICES

    sentence = text.sentence(language, np.random.default_rng(5), clauses=2)
    speech = espeak.synth(sentence, ESPEAK_LANGUAGE_VOICES[language][0] + "+f2")
    _check_cover(speech)
    sounds = [p for _, _, p in speech.phonemes if p != tts.SILENCE]
    assert len(sounds) >= 12, (language, sentence)
    # At least a third of the sounds are vowels: real syllables, not spelled-out characters.
    assert sum(visemes.is_vowel(p) for p in sounds) >= len(sounds) / 3


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_phonemes_cover_the_audio():
    speech = tts.flite("Please bring the blue box.", "slt", duration_stretch=1.1, f0_mean=170)
    _check_cover(speech)
    assert "b" in [p for _, _, p in speech.phonemes]


@pytest.mark.skipif(not tts.festival_voices(), reason="no festival voice installed")
def test_festival_segments_cover_the_audio():
    voices = tts.festival_voices()
    speech = tts.festival('Bob said "hello" to Pam.', "kal_diphone" if "kal_diphone" in voices else voices[0], 1.0)
    _check_cover(speech)
    assert {"b", "p"} <= {p for _, _, p in speech.phonemes}


def test_bilabials_close_the_lips_and_vowels_open_them(espeak):
    speech = espeak.synth("Bob may buy a map from Pam, maybe.", "en-us", rate=150)
    times = labels.frame_times(speech.duration)
    curves = visemes.mouth_curves(speech.phonemes, times)
    closure = curves[:, visemes.CHANNELS.index("lipClosure")]
    jaw = curves[:, visemes.CHANNELS.index("jawOpen")]
    closures = [(s + e) / 2 for s, e, p in speech.phonemes if p in BILABIALS]
    assert len(closures) >= 6
    at = [int(np.argmin(np.abs(times - t))) for t in closures]
    assert all(closure[i] > 0.8 for i in at), closure[at]
    open_vowels = [(s + e) / 2 for s, e, p in speech.phonemes if visemes.viseme_sequence(p)[0] == "AA"]
    assert open_vowels
    vowel_jaw = max(jaw[int(np.argmin(np.abs(times - t)))] for t in open_vowels)
    assert vowel_jaw > 0.35
    # The lips close a bilabial; the jaw only rises part way (it keeps some of the vowels' opening).
    assert np.median(jaw[at]) < 0.6 * vowel_jaw, (jaw[at], vowel_jaw)
    # On the rig, the final labels shut the lips at every bilabial, whatever the emotion.
    style = nonverbal.Style.for_speaker("espeak:en-us")
    for controls in (
        Controls(),
        Controls(emotion="surprised", intensity=1.0),
        Controls(emotion="angry", intensity=1.0),
    ):
        motion, _ = labels.motion_labels(speech.audio, speech.phonemes, controls, style, np.random.default_rng(0))
        gap = visemes.lip_aperture(motion)
        full_open = visemes.lip_gap_per_unit()["jawOpen"]
        for t in closures:
            i = int(np.argmin(np.abs(times - t)))
            assert gap[i] < 0.02 * full_open, (controls.emotion, t, gap[i])
        assert gap.max() > 0.3 * full_open


def test_mouth_close_closes_the_lips_against_an_open_jaw():
    shapes = {"jawOpen": np.array([0.0, 0.3, 0.6]), "mouthLowerDown": np.array([0.0, 0.2, 0.2])}
    close = visemes.close_lips(np.array([1.0, 1.0, 0.0]), shapes)
    assert close[0] == 0.0 and close[1] > 0.3 and close[2] == 0.0
    motion = np.zeros((3, M.DIM), np.float32)
    for name, v in {**shapes, "mouthClose": close}.items():
        motion[:, M.index(name)] = v
    gap = visemes.lip_aperture(motion)
    assert abs(gap[1]) < 1e-4 and gap[2] > 0.05  # closed with the jaw open; open without closure


def test_rounded_vowels_pucker_and_spread_vowels_smile():
    t = np.array([0.15])
    ch = visemes.CHANNELS.index
    for sym, alphabet in (("uː", "ipa"), ("uw", "arpa")):
        u = visemes.mouth_curves([(0.0, 0.3, sym)], t, alphabet)[0]
        assert u[ch("mouthPucker")] > 0.6 and u[ch("mouthFunnel")] > 0.3 and u[ch("mouthSmile")] < 0.1
    i = visemes.mouth_curves([(0.0, 0.3, "iː")], t)[0]
    assert i[ch("mouthSmile")] > 0.3 and i[ch("mouthStretch")] > 0.3 and i[ch("mouthPucker")] < 0.1
    # The alphabets disagree on "y" and "th": IPA front-rounded vowel vs. English glide/fricative.
    assert visemes.viseme_sequence("y", "ipa") == ["YY"] and visemes.viseme_sequence("y", "arpa") == ["JJ"]
    assert visemes.viseme_sequence("th", "ipa") == ["DD"] and visemes.viseme_sequence("th", "arpa") == ["TH"]


def test_anticipatory_rounding_reaches_into_the_preceding_consonant():
    # "s" then "u": lips start rounding during the /s/, before the vowel begins (coarticulation).
    ph = [(0.0, 0.2, tts.SILENCE), (0.2, 0.32, "s"), (0.32, 0.5, "uː"), (0.5, 0.8, tts.SILENCE)]
    pucker = visemes.mouth_curves(ph, np.array([0.1, 0.3]))[:, visemes.CHANNELS.index("mouthPucker")]
    assert pucker[1] > 0.25 > pucker[0]


def test_blink_rate_and_shape_over_a_long_utterance(espeak):
    sentence = " ".join(text.sentence("en", np.random.default_rng(i), clauses=4) for i in range(12))
    speech = espeak.synth(sentence, "en-us+m1", rate=165)
    assert speech.duration > 60
    times = labels.frame_times(speech.duration)
    rates = []
    for speaker in ("espeak:en-us+m1", "flite:slt", "espeak:ru+f4", "festival:kal_diphone"):
        style = nonverbal.Style.for_speaker(speaker)
        pro = labels.prosody(speech.audio, speech.phonemes, times, "ipa")
        lid, apexes = nonverbal.blinks(times, pro, style, Controls(), np.random.default_rng(1))
        rates.append(len(apexes) / (speech.duration / 60))
        assert lid.max() > 0.9 and lid.min() == 0.0
        for a in apexes:  # each blink is fully closed on a frame and open again within 300 ms
            i = int(np.argmin(np.abs(times - a)))
            assert lid[i] > 0.85
            assert lid[min(len(lid) - 1, i + 8)] < 0.05 and lid[max(0, i - 8)] < 0.05
    assert all(8 <= r <= 27 for r in rates), rates  # 10-25/min plus Poisson spread
    assert 10 <= np.mean(rates) <= 25


def test_emotion_and_controls_shift_the_labels(espeak):
    speech = espeak.synth("We measured the temperature every hour.", "en-us+f1")
    style = nonverbal.Style.for_speaker("espeak:en-us+f1")

    def label(c: Controls) -> np.ndarray:
        return labels.motion_labels(speech.audio, speech.phonemes, c, style, np.random.default_rng(3))[0]

    neutral = label(Controls())
    happy = label(Controls(emotion="happy", intensity=1.0))
    sad = label(Controls(emotion="sad", intensity=1.0))
    surprised = label(Controls(emotion="surprised", intensity=1.0))
    far = label(Controls(distance=2.0, gaze_yaw=20.0))
    col = M.index
    assert happy[:, col("mouthSmileLeft")].mean() > neutral[:, col("mouthSmileLeft")].mean() + 0.2
    assert sad[:, col("pitch")].mean() < neutral[:, col("pitch")].mean() - 3
    assert sad[:, col("jawOpen")].mean() < neutral[:, col("jawOpen")].mean()
    assert surprised[:, col("eyeWideLeft")].mean() > 0.3
    assert far[:, col("scale")].mean() == pytest.approx(0.5, abs=0.03)
    assert far[:, col("gazeYaw")].mean() == pytest.approx(20, abs=4)
    # Motion energy: sad moves the head less per frame than happy.
    assert np.abs(np.diff(sad[:, :3], axis=0)).mean() < np.abs(np.diff(happy[:, :3], axis=0)).mean()


def test_held_out_split_shares_no_voice_or_engine_with_train():
    specs = [plan_utterance(11, i, ["kal_diphone"]) for i in range(3000)]
    train = {s.voice.id for s in specs if s.voice.split == "train"}
    val = {s.voice.id for s in specs if s.voice.split == "val"}
    assert train and val and not train & val
    assert VAL_ENGINE not in {s.voice.engine for s in specs if s.voice.split == "train"}
    assert any(s.voice.engine == VAL_ENGINE for s in specs if s.voice.split == "val")
    # Held-out espeak variants are held out in every language.
    assert split_of(Voice("espeak", "ja+f4", "ja")) == split_of(Voice("espeak", "en-us+f4", "en")) == "val"
    val_share = sum(s.voice.split == "val" for s in specs) / len(specs)
    assert 0.05 < val_share < 0.3
    assert len({s.voice.language for s in specs}) >= 10


def test_tiny_build_writes_a_valid_resumable_corpus(tmp_path):
    out = tmp_path / "corpus"
    info = build_corpus(out, hours=1.0, seed=4, workers=1, max_utterances=4)
    assert info["utterances"] == 4
    entries = read_manifest(out)
    keys = {"id", "split", "engine", "voice", "language", "text", "duration_s", "fps", "emotion", "intensity"}
    keys |= {"gaze_yaw", "gaze_pitch", "distance", "file"}
    for e in entries:
        assert keys <= set(e) and e["fps"] == 25 and e["split"] in ("train", "val")
        with np.load(out / e["file"], allow_pickle=False) as z:
            audio, motion, controls = z["audio"], z["motion"], z["controls"]
            assert audio.dtype == np.int16 and audio.ndim == 1 and int(z["sr"]) == 16000
            assert len(audio) / 16000 == pytest.approx(e["duration_s"], abs=1e-3)
            assert motion.dtype == np.float32 and motion.shape == (-(-len(audio) // 640), M.DIM)
            assert len(motion) == math.ceil(e["duration_s"] * 25 - 1e-6)
            assert np.isfinite(motion).all()
            assert z["mouth_open"].shape == (len(motion),)
            expected = Controls(e["gaze_yaw"], e["gaze_pitch"], e["distance"], e["emotion"], e["intensity"])
            assert controls.shape == (CONTROL_DIM,)
            np.testing.assert_allclose(controls, expected.to_vector(), atol=1e-3)
            ph = json.loads(str(z["phonemes"]))
            assert ph[0][0] == 0 and ph[-1][1] == pytest.approx(e["duration_s"], abs=1e-3)
            # Relative pose: angles near 0, scale near 1/distance.
            assert np.abs(np.median(motion[:, :3], axis=0)).max() < 15
            assert np.median(motion[:, M.index("scale")]) == pytest.approx(1 / e["distance"], rel=0.05)
    first = (out / entries[0]["file"]).read_bytes()
    # Resume: two more utterances, the first four untouched, ids unique.
    build_corpus(out, hours=1.0, seed=4, workers=1, max_utterances=2)
    again = read_manifest(out)
    assert len(again) == 6 and len({e["id"] for e in again}) == 6
    assert (out / entries[0]["file"]).read_bytes() == first
    assert not list((out / "utts").glob(".*"))  # no temp file left behind
    with pytest.raises(InvalidInput, match="seed"):
        build_corpus(out, hours=1.0, seed=5, workers=1, max_utterances=1)
    assert json.loads((out / "build.json").read_text())["complete"] is False  # 6 utterances < 1 h


def test_same_seed_same_utterance(tmp_path):
    a = build_corpus(tmp_path / "a", 1.0, seed=9, workers=1, max_utterances=2)
    b = build_corpus(tmp_path / "b", 1.0, seed=9, workers=1, max_utterances=2)
    assert a["utterances"] == b["utterances"] == 2
    for e in read_manifest(tmp_path / "a"):
        with np.load(tmp_path / "a" / e["file"]) as za, np.load(tmp_path / "b" / e["file"]) as zb:
            for key in ("audio", "motion", "controls", "mouth_open"):
                np.testing.assert_array_equal(za[key], zb[key])


@pytest.mark.slow
def test_two_worker_processes_build_the_same_utterances_as_one(tmp_path):
    build_corpus(tmp_path / "one", 1.0, seed=9, workers=1, max_utterances=3)
    build_corpus(tmp_path / "two", 1.0, seed=9, workers=2, max_utterances=3)
    one = {e["id"]: e for e in read_manifest(tmp_path / "one")}
    two = {e["id"]: e for e in read_manifest(tmp_path / "two")}
    assert set(one) == set(two) and len(one) == 3
    for uid, entry in one.items():
        assert entry == two[uid]
        with np.load(tmp_path / "one" / entry["file"]) as za, np.load(tmp_path / "two" / entry["file"]) as zb:
            np.testing.assert_array_equal(za["motion"], zb["motion"])
            np.testing.assert_array_equal(za["audio"], zb["audio"])


def test_cli_build_and_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["corpus", "build", "--hours", "0.001", "--out", str(tmp_path / "c"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "c")
    bad = runner.invoke(app, ["corpus", "build", "--hours", "1", "--out", str(tmp_path / "d"), "--workers", "3"])
    assert bad.exit_code == 2 and "workers" in bad.output
    missing = runner.invoke(app, ["corpus", "from-videos", str(tmp_path / "nope"), "--out", str(tmp_path / "e")])
    assert missing.exit_code == 2 and "not a folder" in missing.output


@pytest.mark.slow
def test_from_videos_turns_a_rendered_talking_head_into_the_same_format(tmp_path, astronaut_face, espeak):
    """Render known motion at 30 fps with speech, build a corpus from it, recover the motion at 25 fps."""
    import soundfile as sf

    from candor.generator.animator import Animator
    from candor.generator.video import VideoWriter
    from candor.training.corpus.videos import build_from_videos

    speech = espeak.synth("Bob may buy a map from Pam.", "en-us", rate=170)
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech.audio, 16000)
    fps, n = 30, int(np.ceil(speech.duration * 30))
    t = np.arange(n) / fps
    known = np.tile(astronaut_face.baseline, (n, 1))
    known[:, M.index("yaw")] += 3 + 8 * np.sin(2 * np.pi * t / 1.5)
    known[:, M.index("jawOpen")] = np.clip(0.5 + 0.5 * np.sin(2 * np.pi * t / 0.7), 0, 1)
    videos = tmp_path / "videos"
    animator = Animator(astronaut_face)
    with VideoWriter(videos / "talk.mp4", fps=fps, audio_path=wav) as writer:
        for v in known:
            writer.write(animator.frame(v))
    with VideoWriter(videos / "silent.mp4", fps=fps) as writer:  # no audio track: skipped
        for v in known[:5]:
            writer.write(animator.frame(v))
    skipped: list[str] = []
    info = build_from_videos(videos, tmp_path / "corpus", on_skip=lambda name, why: skipped.append(name))
    assert info["made"] == 1 and skipped == ["silent.mp4"]
    (entry,) = read_manifest(tmp_path / "corpus")
    assert entry["engine"] == "video" and entry["fps"] == 25 and entry["split"] == "train"
    with np.load(tmp_path / "corpus" / entry["file"]) as z:
        motion, audio = z["motion"], z["audio"]
        assert audio.dtype == np.int16 and abs(len(audio) / 16000 - speech.duration) < 0.1
        assert motion.shape == (-(-len(audio) // 640), M.DIM)
        assert json.loads(str(z["phonemes"])) == []
        np.testing.assert_array_equal(z["mouth_open"], motion[:, M.index("jawOpen")])
    # Known 30 fps motion sampled at the 25 fps frame centres, pose relative to the clip median.
    tc = (np.arange(len(motion)) + 0.5) / 25
    for name in ("yaw", "jawOpen"):
        want = np.interp(tc, t, known[:, M.index(name)])
        got = motion[:, M.index(name)]
        assert np.corrcoef(want, got)[0, 1] > 0.9, name
    assert abs(np.median(motion[:, M.index("yaw")])) < 0.5
    assert np.median(motion[:, M.index("scale")]) == pytest.approx(1.0, abs=0.01)
    # Resuming through the CLI makes nothing new and reports the skipped video.
    result = CliRunner().invoke(app, ["corpus", "from-videos", str(videos), "--out", str(tmp_path / "corpus")])
    assert result.exit_code == 0, result.output
    assert "0 new, 1 skipped" in result.output and "silent.mp4" in result.output
    assert len(read_manifest(tmp_path / "corpus")) == 1


def test_nonverbal_motion_follows_prosody(espeak):
    """Nods land on stressed syllables, brows rise on pitch accents, blinks favour pauses."""
    import dataclasses

    sentence = " ".join(text.sentence("en", np.random.default_rng(i), clauses=3) for i in range(10))
    speech = espeak.synth(sentence, "en-us+m2", rate=160)
    times = labels.frame_times(speech.duration)
    pro = labels.prosody(speech.audio, speech.phonemes, times, "ipa")
    assert len(pro.stresses) > 20 and len(pro.accents) > 5 and len(pro.pauses) > 5
    style = dataclasses.replace(nonverbal.Style.for_speaker("espeak:en-us+m2"), nod_prob=1.0, brow_prob=1.0)
    rng = np.random.default_rng(0)
    pose = nonverbal.head_pose(times, pro, style, Controls(), rng)

    # The chin dips across a stressed vowel's onset (pitch 100 ms after minus 80 ms before), unlike
    # at random times.
    def dip(onsets: list[float]) -> float:
        return float(
            np.mean([np.interp(t + 0.1, times, pose[:, 1]) - np.interp(t - 0.08, times, pose[:, 1]) for t in onsets])
        )

    assert dip([t for t, _ in pro.stresses]) < dip(list(rng.uniform(0, speech.duration, 300))) - 0.5
    brow = nonverbal.brows(times, pro, style, rng)
    at_accents = np.mean([brow[min(len(brow) - 1, int((t + 0.2) * 25))] for t, _ in pro.accents])
    assert at_accents > 2 * brow.mean()
    # Blinks: a larger share of them falls in pauses than the pauses' share of time.
    apexes: list[float] = []
    for seed in range(6):
        apexes += nonverbal.blinks(times, pro, style, Controls(), np.random.default_rng(seed))[1]
    in_pause = np.mean([any(s <= a < e for s, e, p in speech.phonemes if p == tts.SILENCE) for a in apexes])
    assert in_pause > 1.5 * (1 - pro.speaking.mean())


@pytest.mark.slow
def test_ray_builds_the_same_utterances_as_one_process(tmp_path):
    from candor.executors import RayExecutor

    build_corpus(tmp_path / "one", 1.0, seed=9, workers=1, max_utterances=3)
    with RayExecutor("local", num_cpus=2) as ray:
        info = build_corpus(tmp_path / "ray", 1.0, seed=9, max_utterances=3, executor=ray)
    assert info["executor"] == "Ray (2 CPUs)" and info["utterances"] == 3
    one = {e["id"]: e for e in read_manifest(tmp_path / "one")}
    on_ray = {e["id"]: e for e in read_manifest(tmp_path / "ray")}
    assert set(one) == set(on_ray) and len(one) == 3
    for uid, entry in one.items():
        assert on_ray[uid] == entry
        with np.load(tmp_path / "one" / entry["file"]) as za, np.load(tmp_path / "ray" / entry["file"]) as zb:
            for key in ("audio", "motion", "controls", "mouth_open"):
                np.testing.assert_array_equal(za[key], zb[key])
