"""The articulatory label rules (visemes.V2) and the phonetic opening truth (openness), on small data.

Phones here are hand-timed ARPAbet segments, so each test states one articulatory fact and fails
when the rules stop producing it.
"""

from __future__ import annotations

import numpy as np
import pytest

from candor.generator.controls import Controls
from candor.training.corpus import labels, visemes
from candor.training.corpus.nonverbal import Style
from candor.training.corpus.openness import OPENING, opening_truth
from candor.training.corpus.tts import SAMPLE_RATE, SILENCE

_ = SILENCE


def _aperture(phones: list[tuple[float, float, str]], rules: visemes.Rules = visemes.V2) -> np.ndarray:
    """Lip gap (face heights) per 40 ms frame of neutral labels for ARPAbet ``phones``."""
    duration = phones[-1][1]
    audio = np.random.default_rng(0).normal(0, 1e-3, int(duration * SAMPLE_RATE)).astype(np.float32)
    motion, _m = labels.motion_labels(
        audio, phones, Controls(), Style.for_speaker("test"), np.random.default_rng(0), "arpa", rules
    )
    return visemes.lip_aperture(motion)


def _at(gap: np.ndarray, t: float) -> float:
    return float(gap[int(t * labels.FPS)])


def _vcv(consonant: str, vowel: str = "aa", dur: float = 0.08) -> list[tuple[float, float, str]]:
    return [(0.0, 0.2, _), (0.2, 0.4, vowel), (0.4, 0.4 + dur, consonant), (0.4 + dur, 0.6 + dur, vowel),
            (0.6 + dur, 0.9 + dur, _)]  # fmt: skip


def test_the_labels_use_the_syllable_frame_rules():
    assert visemes.DEFAULT_RULES is visemes.V2
    assert set(visemes.RULES) == {"v1", "v2"}


@pytest.mark.parametrize("vowel", ["iy", "ih", "uw", "uh", "er", "ah"])
def test_a_close_vowel_opens_the_lips_more_than_an_alveolar_stop(vowel):
    # Syllable frame: every nucleus opens the jaw, a close vowel included; /t/ raises it.
    for rules, holds in ((visemes.V2, True), (visemes.V1, vowel == "ah")):
        v = _at(_aperture([(0.0, 0.2, _), (0.2, 0.5, vowel), (0.5, 0.7, _)], rules), 0.36)
        t = _at(_aperture([(0.0, 0.2, _), (0.2, 0.5, "t"), (0.5, 0.7, _)], rules), 0.36)
        assert (v > 1.5 * t) == holds, (rules.name, vowel, v, t)


def test_the_vowels_differ_less_than_vowels_and_consonants():
    gaps = {v: _at(_aperture([(0.0, 0.2, _), (0.2, 0.5, v), (0.5, 0.7, _)]), 0.36) for v in ("aa", "iy", "s", "t")}
    assert gaps["aa"] > gaps["iy"] > gaps["t"] > 0  # the order of openness holds
    assert gaps["aa"] / gaps["iy"] < 1.6  # but /a/ is not three times /i/ (v1: ~3.8)


def test_a_bilabial_closes_the_lips_for_its_segment_and_no_longer():
    # /m b p/ from 0.40 to 0.48 s between two /a/; frame centres at 0.38, 0.42, 0.46, 0.50 s.
    vowel = _at(_aperture([(0.0, 0.2, _), (0.2, 0.6, "aa"), (0.6, 0.9, _)]), 0.3)
    for consonant in ("m", "b", "p"):
        gap = _aperture(_vcv(consonant, dur=0.08))
        assert _at(gap, 0.42) <= 0.05 * vowel and _at(gap, 0.46) <= 0.05 * vowel, consonant
        # 20 ms outside the segment the lips are half open, 60 ms outside fully (v1: 6% and 40-57%,
        # its closure spread ~75 ms into each vowel).
        assert _at(gap, 0.38) > 0.4 * vowel and _at(gap, 0.50) > 0.4 * vowel, consonant
        assert _at(gap, 0.34) > 0.9 * vowel and _at(gap, 0.54) > 0.9 * vowel, consonant
    v1 = _aperture(_vcv("m", dur=0.08), visemes.V1)
    assert _at(v1, 0.38) < 0.4 * vowel and _at(v1, 0.34) < 0.9 * vowel


def test_a_short_bilabial_still_closes_at_a_frame():
    # 30 ms /b/ between frame centres: widened to 50 ms, it shuts the lips on at least one frame.
    phones = [(0.0, 0.2, _), (0.2, 0.405, "ah"), (0.405, 0.435, "b"), (0.435, 0.65, "ah"), (0.65, 0.9, _)]
    gap = _aperture(phones)
    assert gap[9:13].min() <= 0.1 * _at(gap, 0.3)


def test_lingual_consonants_leave_the_lips_open_and_sibilants_show_the_teeth():
    vowel = _at(_aperture(_vcv("n")), 0.3)
    assert _at(_aperture(_vcv("n")), 0.44) > 0.6 * vowel  # the tongue makes /n/; the jaw stays
    assert _at(_aperture(_vcv("l")), 0.44) > 0.6 * vowel
    s_gap = _at(_aperture(_vcv("s", dur=0.12)), 0.46)
    assert 0 < s_gap < 0.5 * vowel  # teeth together, lips parted


def test_silence_closes_the_mouth():
    gap = _aperture([(0.0, 0.3, _), (0.3, 0.6, "aa"), (0.6, 1.2, _)])
    assert _at(gap, 0.1) < 1e-3 and _at(gap, 1.0) < 1e-3 and _at(gap, 0.45) > 0.05


def test_the_truth_is_a_step_per_phone_with_h_and_diphthongs():
    phones = [(0.0, 0.1, _), (0.1, 0.2, "hh"), (0.2, 0.4, "ay"), (0.4, 0.5, "m"), (0.5, 0.6, "iy"), (0.6, 0.8, _)]
    t = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.7])
    truth = opening_truth(phones, t)
    a_, i_ = OPENING["ay"]
    assert truth.tolist() == [0.0, a_, a_, i_, 0.0, OPENING["iy"], 0.0]
    # No smoothing: the value changes at the boundary, between two samples 2 ms apart.
    edge = opening_truth(phones, np.array([0.399, 0.401]))
    assert edge.tolist() == [i_, 0.0]


def test_the_truth_orders_phones_by_openness():
    order = ["aa", "eh", "ih", "iy", "t", "s", "f", "m"]
    values = [OPENING[p] for p in order]
    assert values == sorted(values, reverse=True) and values[-1] == 0.0
    assert opening_truth([(0.0, 0.1, "hh"), (0.1, 0.2, _)], np.array([0.05])).tolist() == [0.0]  # /h/ at a pause


def test_syllable_magnitude_opens_the_louder_vowel_wider_and_only_when_asked():
    """Two /a/ syllables, the second 12 dB louder: with a syllable magnitude its jaw opens wider
    and the first one's less; v2 (no magnitude) opens both alike, whatever the energy says."""
    import dataclasses

    phones = [(0.0, 0.2, _), (0.2, 0.5, "aa"), (0.5, 0.6, _), (0.6, 0.9, "aa"), (0.9, 1.1, _)]
    times = labels.frame_times(1.1)
    energy = np.where(times >= 0.6, -6.0, -18.0)
    jaw = visemes.CHANNELS.index("jawOpen")
    loud = dataclasses.replace(visemes.V2, magnitude_per_db=0.03, magnitude_range=(0.5, 1.5))
    flat = visemes.mouth_curves(phones, times, "arpa", visemes.V2, energy=energy)[:, jaw]
    assert np.array_equal(flat, visemes.mouth_curves(phones, times, "arpa", visemes.V2)[:, jaw])
    shaped = visemes.mouth_curves(phones, times, "arpa", loud, energy=energy)[:, jaw]
    first, second = (int(t * labels.FPS) for t in (0.36, 0.76))
    assert shaped[second] > flat[second] * 1.1 and shaped[first] < flat[first] * 0.9
    assert np.isclose(flat[first], flat[second], atol=0.02)
