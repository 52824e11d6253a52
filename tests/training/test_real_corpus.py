"""Real-speech corpus: pocketsphinx alignment and phone loop, source discovery, the builder, the CLI.

The recordings here are made in the test (espeak-ng speech with a known text and its own phoneme
timing), so nothing depends on the Debian sound packages being installed.
"""

from __future__ import annotations

import gzip
import itertools
import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from candor.cli import app
from candor.errors import InvalidInput
from candor.generator import motion as M
from candor.generator.controls import CONTROL_DIM
from candor.training.corpus import real, tts
from candor.training.corpus.align import AlignmentError, PhoneTimer, number_words, transcript_words

TEXT = "My mother made a map of the moon, maybe by the bay."


@pytest.fixture(scope="module")
def speech() -> tts.Speech:
    # The en-US acoustic model fails to align espeak-ng's default male voice; f3 aligns.
    return tts.Espeak.shared().synth(TEXT, "en-us+f3", rate=150)


@pytest.fixture(scope="module")
def timer() -> PhoneTimer:
    return PhoneTimer()


def _check_cover(phonemes: list[tuple[float, float, str]], duration: float) -> None:
    assert phonemes[0][0] == 0.0 and phonemes[-1][1] == pytest.approx(duration, abs=1e-4)  # stored to 0.1 ms
    for (_, e0, _), (s1, _, _) in itertools.pairwise(phonemes):
        assert e0 == pytest.approx(s1)
    assert all(e > s for s, e, _ in phonemes)


def _bilabial_onsets(phonemes: list[tuple[float, float, str]], symbols: tuple[str, ...]) -> list[float]:
    return [s for s, _, p in phonemes if p in symbols]


def test_alignment_finds_each_bilabial_where_the_synthesizer_put_it(speech, timer):
    phones = timer.align(speech.audio, transcript_words(TEXT))
    _check_cover(phones, speech.duration)
    assert all(p == tts.SILENCE or (p.isalpha() and p.islower()) for _, _, p in phones)  # ARPAbet, lower case
    aligned = _bilabial_onsets(phones, ("m", "b", "p"))
    truth = _bilabial_onsets(speech.phonemes, ("m", "b", "p"))
    assert len(aligned) == len(truth) >= 8
    # Each /m b p/ starts within 50 ms of espeak-ng's own event for it (10 ms frames, coarticulation).
    assert np.max(np.abs(np.array(aligned) - np.array(truth))) < 0.05


def test_phone_loop_recognizes_speech_without_a_transcript(speech, timer):
    phones = timer.recognize(speech.audio)
    _check_cover(phones, speech.duration)
    spoken = [p for _, _, p in phones if p != tts.SILENCE]
    assert len(spoken) >= 15
    # Without the text it still hears most lip closures (any of m b p counts as the same viseme).
    truth = _bilabial_onsets(speech.phonemes, ("m", "b", "p"))
    heard = _bilabial_onsets(phones, ("m", "b", "p"))
    near = [min(abs(t - h) for h in heard) < 0.08 for t in truth] if heard else [False]
    assert np.mean(near) >= 0.6


def test_alignment_refuses_words_outside_the_dictionary(speech, timer):
    with pytest.raises(AlignmentError, match="qzxvb"):
        timer.align(speech.audio, ["my", "qzxvb"])


def test_prompt_text_becomes_dictionary_words():
    assert transcript_words("Press 1 for sales, # to exit.") == ["press", "one", "for", "sales", "pound", "to", "exit"]
    assert transcript_words("[ascending tones]") is None
    assert number_words(2019) == ["two", "thousand", "nineteen"]
    assert number_words(105) == ["one", "hundred", "five"]


@pytest.fixture()
def sources(tmp_path, speech):
    """A miniature install tree: asterisk en + fr (8 kHz), a LibriVox transcript, a codec2 raw file."""
    root = tmp_path / "usr"
    import librosa

    at8k = librosa.resample(speech.audio, orig_sr=16000, target_sr=8000)  # a telephone-rate copy
    for voice in ("en_US_f_Allison", "fr_CA_f_June"):
        d = root / "asterisk" / voice
        (d / "digits").mkdir(parents=True)
        sf.write(d / "mother.wav", at8k, 8000, subtype="PCM_16")
        sf.write(d / "digits" / "1.wav", at8k[:2000], 8000, subtype="PCM_16")  # 0.25 s: too short
        sf.write(d / "beep.wav", np.sin(np.arange(8000) * 0.5) * 0.3, 8000, subtype="PCM_16")
    # Some packaged prompts are empty files.
    sf.write(root / "asterisk" / "fr_CA_f_June" / "empty.wav", np.zeros(0, np.float32), 8000, subtype="PCM_16")
    (root / "asterisk" / "en").symlink_to(root / "asterisk" / "en_US_f_Allison")  # an alternatives link
    text = root / "core-sounds-en.txt.gz"
    with gzip.open(text, "wt") as f:
        f.write(f"; Core sounds\nmother: {TEXT}\ndigits/1: One.\nbeep: [this is a simple beep tone]\n")
    lv = root / "librivox"
    lv.mkdir()
    sf.write(lv / "book-0001.wav", speech.audio, 16000, subtype="PCM_16")
    (lv / "transcription").write_text(f"<s> {TEXT.lower().strip('.')} </s> (book-0001)\n")
    (root / "codec2" / "raw").mkdir(parents=True)
    (np.clip(at8k, -1, 1) * 32767).astype("<i2").tofile(root / "codec2" / "raw" / "hts.raw")
    return real.discover(root / "asterisk", lv, root / "codec2", text)


def test_discover_reads_the_install_layout(sources):
    by_id = {r.id: r for r in sources}
    assert set(by_id) == {
        "asterisk-en-mother", "asterisk-en-digits-1", "asterisk-fr-mother", "asterisk-fr-digits-1", "asterisk-fr-empty",
        "librivox-0001", "codec2-hts",
    }  # fmt: skip
    assert by_id["asterisk-en-mother"].english and by_id["asterisk-en-mother"].text == TEXT
    assert not by_id["asterisk-fr-mother"].english and by_id["asterisk-fr-mother"].text is None
    assert by_id["asterisk-fr-mother"].speaker == "asterisk-June" and by_id["codec2-hts"].raw_rate == 8000
    assert by_id["librivox-0001"].english and by_id["librivox-0001"].speaker == "librivox-austen"
    assert len(real.load(by_id["codec2-hts"])) == pytest.approx(len(real.load(by_id["asterisk-fr-mother"])), abs=2)


def test_build_labels_real_speech_in_the_corpus_format_and_holds_out_speakers(tmp_path, sources):
    out = tmp_path / "corpus"
    info = real.build_real_corpus(out, recordings=sources, held_out=("asterisk-June",))
    rows = {r["id"]: r for r in real.read_manifest(out)}
    assert set(rows) == {"asterisk-en-mother", "asterisk-fr-mother", "librivox-0001", "codec2-hts"}
    assert info["skipped"] == 3  # the two 0.25 s digits and the empty file
    assert rows["asterisk-en-mother"]["labels"] == "aligned" and rows["librivox-0001"]["labels"] == "aligned"
    assert rows["asterisk-fr-mother"]["labels"] == "phone-loop" and rows["codec2-hts"]["labels"] == "phone-loop"
    assert {r["id"] for r in rows.values() if r["split"] == "val"} == {"asterisk-fr-mother"}
    assert info["speakers_per_split"]["val"] == ["asterisk-June"] == info["held_out"]["speakers"]
    for row in rows.values():
        with np.load(out / row["file"]) as z:
            assert int(z["sr"]) == 16000 and z["audio"].dtype == np.int16
            T = -(-len(z["audio"]) * 25 // 16000)
            assert z["motion"].shape == (T, M.DIM) and z["mouth_open"].shape == (T,)
            assert z["controls"].shape == (CONTROL_DIM,)
            phonemes = json.loads(str(z["phonemes"]))
            _check_cover([tuple(p) for p in phonemes], len(z["audio"]) / 16000)
            # The lips close on the bilabials and open on the vowels, as in the TTS corpus.
            jaw = z["motion"][:, M.index("jawOpen")]
            assert jaw.max() > 0.3
    check = info["label_check"]
    assert check["utterances"] == 2 and check["jaw_r_phone_loop_vs_aligned"] > 0.5
    again = real.build_real_corpus(out, recordings=sources, held_out=("asterisk-June",))
    assert again["utterances"] == 4 and again["wall_s"] < info["wall_s"]  # resumed: nothing redone


def test_build_without_recordings_names_the_install_command(tmp_path):
    with pytest.raises(InvalidInput, match="make real-speech"):
        real.build_real_corpus(tmp_path / "c", recordings=[])


def test_cli_real_explains_missing_recordings(tmp_path, monkeypatch):
    # The command looks in the install locations; point them at an empty folder.
    monkeypatch.setattr(real.discover, "__defaults__", (tmp_path / "none",) * 3 + (tmp_path / "none.txt",))
    result = CliRunner().invoke(app, ["corpus", "real", "--out", str(tmp_path / "c")])
    assert result.exit_code != 0 and "apt-get install asterisk-core-sounds-en" in result.output
