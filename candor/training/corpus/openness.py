"""The phonetic opening truth: how open the lips are during each aligned phone, from a fixed table.

An evaluation reference, kept apart from the label rules (``visemes``) so that benchmarks do not
grade the rules against themselves. Each phone gets one vertical inner-lip opening on a 0..1
scale and holds it for its whole aligned interval: no coarticulation, no smoothing, no holds,
no audio. The values are ordinal classes, not measurements, ordered by

- vowel height on the IPA chart (open > open-mid > close-mid > close: the jaw lowers with vowel
  height, and the lips follow it), less for the rounded back vowels, whose lips narrow;
- consonants by place and constriction: the lips meet on /p b m/, the lower lip touches the
  upper teeth on /f v/, the jaw is highest (teeth nearly together) on sibilants and alveolar
  stops and a little lower on velars and approximants (Keating, Lindblom, Lubker & Kreiman 1994,
  jaw position in English VCV sequences);
- /h/ is a voiceless onset of the vowel after it, so it takes that phone's value;
- a diphthong is two targets, each for half of its interval.

Phones are the lower-case ARPAbet of the en-US aligner (stress digits ignored); silence is 0.
"""

from __future__ import annotations

import numpy as np

from candor.training.corpus.tts import SILENCE

# ARPAbet phone -> opening (a diphthong: (first half, second half)).
OPENING: dict[str, float | tuple[float, float]] = {
    # vowels, by height (and rounding)
    "aa": 1.0, "ae": 0.9, "ah": 0.65, "ax": 0.5, "ao": 0.8, "eh": 0.7, "er": 0.45, "axr": 0.45,
    "ih": 0.4, "iy": 0.3, "uh": 0.35, "uw": 0.25,
    "aw": (1.0, 0.35), "ay": (1.0, 0.4), "ey": (0.6, 0.4), "ow": (0.6, 0.3), "oy": (0.8, 0.4),
    # consonants, by place and constriction
    "p": 0.0, "b": 0.0, "m": 0.0,
    "f": 0.05, "v": 0.05,
    "s": 0.1, "z": 0.1, "sh": 0.1, "zh": 0.1, "ch": 0.1, "jh": 0.1,
    "th": 0.15, "dh": 0.15, "t": 0.15, "d": 0.15, "n": 0.15, "dx": 0.2,
    "l": 0.25, "el": 0.3, "en": 0.2, "k": 0.2, "g": 0.2, "ng": 0.2,
    "r": 0.25, "y": 0.25, "w": 0.15,
}  # fmt: skip
HH = "hh"


def _value(phone: str) -> float | tuple[float, float] | None:
    """A phone's table entry; None for silence, /h/ and phones the table does not know."""
    p = phone.lower().rstrip("012")
    return None if p in (SILENCE, HH) else OPENING.get(p)


def opening_truth(phonemes: list[tuple[float, float, str]], times: np.ndarray) -> np.ndarray:
    """(len(times),) the table's opening of the phone under each time (s); silence 0.

    /h/ (and an unknown phone) takes the value of the next phone that has one within the same
    stretch of speech; a diphthong's value changes at the middle of its interval.
    """
    t = np.asarray(times, np.float64)
    out = np.zeros(len(t))
    for i, (start, end, phone) in enumerate(phonemes):
        if phone == SILENCE:
            continue
        value = _value(phone)
        j = i + 1
        while value is None and j < len(phonemes) and phonemes[j][2] != SILENCE:
            value = _value(phonemes[j][2])
            j += 1
            if isinstance(value, tuple):  # borrowed from a diphthong: its onset
                value = value[0]
        if value is None:
            continue
        first, second = value if isinstance(value, tuple) else (value, value)
        mid = (start + end) / 2
        out[(t >= start) & (t < mid)] = first
        out[(t >= mid) & (t < end)] = second
    return out
