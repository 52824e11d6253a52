"""Phonemes -> visemes -> mouth/jaw/lip blendshape curves with Cohen-Massaro coarticulation.

Each phoneme symbol (espeak-ng IPA, or the flite/festival US-English set) maps to a viseme with
a target for every mouth channel. A segment's influence on a channel is a dominance function
(Cohen & Massaro 1993)

    D_s(t) = alpha_s * exp(-theta * d_s(t)),   d_s(t) = distance from t to the segment (0 inside)

with a smaller theta before the segment (anticipation) than after it (carry-over), and the
channel's value is the dominance-weighted mean of the targets, sum(D_s T_s) / sum(D_s).
Bilabials (p b m) carry a very high lip/jaw dominance and a 60 ms minimum extent, so the lips
close at their time whatever the neighbours; rounding spreads further than jaw opening, as in
speech (anticipatory lip rounding).

Lip closure is modelled as a degree (``lipClosure``, 1 = lips meet). The rig's ``mouthClose``
follows ARKit: it brings the lips together *against* the jaw's opening, so a closure needs
``mouthClose`` in proportion to how far the jaw and lips are open; :func:`close_lips` computes it
from the rig's own lip-gap coefficients, and :func:`lip_aperture` measures the gap of any motion.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from candor.training.corpus.tts import SILENCE

Alphabet = Literal["ipa", "arpa"]

# Channels of the mouth model, all in candor.generator.motion.BLENDSHAPES.
CHANNELS = (
    "jawOpen",
    "lipClosure",  # 0..1, 1 = the lips meet; turned into the rig's mouthClose by close_lips()
    "mouthPress",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmile",
    "mouthStretch",
    "mouthUpperUp",
    "mouthLowerDown",
)
_C = {c: i for i, c in enumerate(CHANNELS)}
# Channel groups sharing one dominance (and coarticulation reach).
_GROUP = {
    "jawOpen": "jaw",
    "mouthUpperUp": "jaw",
    "mouthLowerDown": "jaw",
    "lipClosure": "lips",
    "mouthPress": "lips",
    "mouthFunnel": "round",
    "mouthPucker": "round",
    "mouthSmile": "spread",
    "mouthStretch": "spread",
}
# viseme: (targets, alpha per group (jaw, lips, round, spread)).
VisemeTable = dict[str, tuple[dict[str, float], tuple[float, float, float, float]]]


@dataclass(frozen=True)
class Rules:
    """One articulatory model: viseme targets and dominances, coarticulation rates, phone maps.

    ``theta``: dominance decay rate (1/s) before (anticipation) and after (carry-over) a segment,
    per channel group; ``min_extent_s``: a viseme's shortest articulation (shorter segments are
    widened symmetrically); ``ipa``/``arpa``: phone -> viseme(s) ("AA+II" for a diphthong);
    ``magnitude_per_db``: syllable magnitude (prominent syllables open the jaw wider; Erickson's
    C/D model): the factor on a vowel's jaw-group targets per dB of its loudness above or below the
    utterance's median vowel, limited to ``magnitude_range`` (0, as in v1 and v2: all alike).
    """

    name: str
    visemes: VisemeTable
    theta: dict[str, tuple[float, float]]
    min_extent_s: dict[str, float]
    ipa: dict[str, str]
    arpa: dict[str, str]
    magnitude_per_db: float = 0.0
    magnitude_range: tuple[float, float] = (1.0, 1.0)


def _ipa_map(chars_of: dict[str, str]) -> dict[str, str]:
    return {ch: v for v, chars in chars_of.items() for ch in chars}


_V1_VISEMES: VisemeTable = {
    "sil": ({}, (1.0, 1.0, 1.0, 1.0)),
    "PP": ({"jawOpen": 0.05, "lipClosure": 1.0, "mouthPress": 0.5}, (8.0, 8.0, 0.3, 0.5)),
    "FF": ({"jawOpen": 0.1, "lipClosure": 0.4, "mouthUpperUp": 0.25, "mouthPress": 0.1}, (4.0, 4.0, 0.3, 0.5)),
    "TH": ({"jawOpen": 0.15, "mouthLowerDown": 0.1}, (0.8, 0.4, 0.2, 0.3)),
    "DD": ({"jawOpen": 0.18, "mouthLowerDown": 0.1}, (0.7, 0.3, 0.2, 0.3)),
    "SS": ({"jawOpen": 0.08, "mouthStretch": 0.3, "mouthSmile": 0.1, "mouthUpperUp": 0.1}, (1.5, 0.4, 0.3, 0.8)),
    "CH": ({"jawOpen": 0.14, "mouthFunnel": 0.55, "mouthPucker": 0.25, "mouthUpperUp": 0.15}, (1.2, 0.4, 2.0, 1.0)),
    "KK": ({"jawOpen": 0.2}, (0.6, 0.3, 0.15, 0.2)),
    "HH": ({"jawOpen": 0.2}, (0.1, 0.1, 0.05, 0.05)),
    "RR": ({"jawOpen": 0.15, "mouthPucker": 0.35, "mouthFunnel": 0.25}, (0.8, 0.3, 1.0, 0.5)),
    "WW": ({"jawOpen": 0.08, "mouthPucker": 0.85, "mouthFunnel": 0.4}, (1.5, 0.5, 2.0, 1.5)),
    "JJ": ({"jawOpen": 0.12, "mouthStretch": 0.3, "mouthSmile": 0.2}, (0.8, 0.3, 0.5, 1.0)),
    "AA": ({"jawOpen": 0.6, "mouthLowerDown": 0.35, "mouthUpperUp": 0.1}, (1.0, 1.0, 0.8, 0.8)),
    "EE": ({"jawOpen": 0.4, "mouthStretch": 0.35, "mouthSmile": 0.15, "mouthLowerDown": 0.2}, (1.0, 1.0, 0.8, 1.0)),
    "II": ({"jawOpen": 0.18, "mouthSmile": 0.35, "mouthStretch": 0.45}, (1.0, 1.0, 0.8, 1.2)),
    "OO": ({"jawOpen": 0.45, "mouthFunnel": 0.6, "mouthPucker": 0.3}, (1.0, 1.0, 1.2, 1.0)),
    "UU": ({"jawOpen": 0.22, "mouthPucker": 0.8, "mouthFunnel": 0.45}, (1.0, 1.0, 1.5, 1.0)),
    "YY": ({"jawOpen": 0.22, "mouthPucker": 0.6, "mouthFunnel": 0.3, "mouthSmile": 0.05}, (1.0, 1.0, 1.3, 1.0)),
    "SCHWA": ({"jawOpen": 0.32, "mouthLowerDown": 0.1}, (0.9, 0.8, 0.5, 0.5)),
}  # fmt: skip
VOWEL_VISEMES = frozenset({"AA", "EE", "II", "OO", "UU", "YY", "SCHWA"})

# IPA characters (after diacritics are stripped) -> viseme.
_V1_IPA_CHARS = {
    "PP": "pbmʙ",
    "FF": "fvɱʋ",
    "TH": "θð",
    "DD": "tdnlɾɫɭʈɖɳɗɬɮɽ",
    "SS": "szʦʣ",
    "CH": "ʃʒɕʑʂʐçʝ",
    "KK": "kgɡŋxɣχqɢcɟɲʁɰ",
    "HH": "hɦʔħʕ",
    "RR": "rɹɻʀ",
    "WW": "wɥʍ",
    "JJ": "j",
    "AA": "aäɑæɐ",
    "EE": "eɛ",
    "II": "iɪɨɯ",
    "OO": "oɔɒɵɤ",
    "UU": "uʊʉ",
    "YY": "yʏøœɶ",
    "SCHWA": "əɜɚɝʌɘ",
}

# flite/festival ("radio" US-English) and pocketsphinx phones.
_V1_ARPA = {
    "aa": "AA", "ae": "AA", "ah": "SCHWA", "ao": "OO", "aw": "AA+UU", "ax": "SCHWA", "axr": "SCHWA+RR",
    "ay": "AA+II", "eh": "EE", "er": "SCHWA+RR", "ey": "EE+II", "ih": "II", "iy": "II", "ow": "OO+UU",
    "oy": "OO+II", "uh": "UU", "uw": "UU", "b": "PP", "p": "PP", "m": "PP", "f": "FF", "v": "FF",
    "th": "TH", "dh": "TH", "t": "DD", "d": "DD", "n": "DD", "l": "DD", "dx": "DD", "el": "DD", "en": "DD",
    "s": "SS", "z": "SS", "sh": "CH", "zh": "CH", "ch": "CH", "jh": "CH", "k": "KK", "g": "KK", "ng": "KK",
    "hh": "HH", "r": "RR", "w": "WW", "y": "JJ",
}  # fmt: skip

V1 = Rules(
    name="v1",
    visemes=_V1_VISEMES,
    theta={"jaw": (28.0, 36.0), "lips": (40.0, 45.0), "round": (11.0, 16.0), "spread": (16.0, 22.0)},
    min_extent_s={"PP": 0.06, "FF": 0.05},
    ipa=_ipa_map(_V1_IPA_CHARS),
    arpa=_V1_ARPA,
)

# v2, the syllable-frame model. Measured on aligned real English (benchmarks/label_ceiling.py),
# v1 grades a close vowel as shut as /t/ (II jaw 0.18 = DD), swings the jaw 3x between vowels,
# and spreads each bilabial closure ~75 ms into the vowels around it. What v2 changes, and why:
# - The jaw's main motion in speech is the syllable cycle, open on every nucleus and closing for
#   the consonants (MacNeilage 1998, frame/content); vowel height only modulates it, and less so
#   in running speech than in isolated vowels (Lindblom 1963, undershoot). Every vowel now opens
#   the jaw at least 0.36; /a/ 0.50.
# - Lingual consonants (t d n l k g r y, th) are made by the tongue: the jaw stays near the
#   vowels around it (Keating et al. 1994 found their jaw height context-dependent, except the
#   sibilants'), so they have low jaw dominance; sonorants (n l, flap, ng: "NN") the lowest.
# - Sibilants need the teeth close together (the teeth are the obstacle): a high jaw with high
#   dominance, but the lips part to show the teeth (mouthUpperUp/LowerDown), so the lip gap
#   stays open a little, as on /s/ in video.
# - Bilabials close the lips, not the jaw: the lower lip rises to the upper (jaw height on /b p m/
#   varies with the vowels, Keating et al. 1994), so PP's jaw dominance is low, its lip dominance
#   high. The lips are light and fast (closing and release in ~10-20 ms; the release of /p b/
#   is ballistic), so the lip group's rates are 120/200 per s instead of 40/45, and the closure
#   holds the aligned segment (at least 50 ms) instead of spreading into the neighbours. Lips
#   press only a little (0.1): a firm press belongs to /p b/ pressure, not to every /m/.
_V2_VISEMES: VisemeTable = {
    "sil": ({}, (1.0, 1.0, 1.0, 1.0)),
    "PP": ({"jawOpen": 0.1, "lipClosure": 1.0, "mouthPress": 0.1}, (0.5, 8.0, 0.3, 0.5)),
    "FF": ({"jawOpen": 0.1, "lipClosure": 0.5, "mouthUpperUp": 0.2, "mouthPress": 0.1}, (2.0, 4.0, 0.3, 0.5)),
    "TH": ({"jawOpen": 0.16, "mouthLowerDown": 0.1}, (0.6, 0.4, 0.2, 0.3)),
    "DD": ({"jawOpen": 0.14, "mouthLowerDown": 0.05}, (0.8, 0.3, 0.2, 0.3)),
    "NN": ({"jawOpen": 0.28, "mouthLowerDown": 0.1}, (0.25, 0.3, 0.2, 0.3)),
    "SS": ({"jawOpen": 0.06, "mouthStretch": 0.3, "mouthSmile": 0.1, "mouthUpperUp": 0.3, "mouthLowerDown": 0.3},
           (1.5, 0.4, 0.3, 0.8)),
    "CH": ({"jawOpen": 0.1, "mouthFunnel": 0.55, "mouthPucker": 0.25, "mouthUpperUp": 0.3, "mouthLowerDown": 0.3},
           (1.2, 0.4, 2.0, 1.0)),
    "KK": ({"jawOpen": 0.2}, (0.5, 0.3, 0.15, 0.2)),
    "HH": ({"jawOpen": 0.3}, (0.05, 0.1, 0.05, 0.05)),
    "RR": ({"jawOpen": 0.25, "mouthPucker": 0.3, "mouthFunnel": 0.2}, (0.4, 0.3, 1.0, 0.5)),
    "WW": ({"jawOpen": 0.12, "mouthPucker": 0.85, "mouthFunnel": 0.4}, (0.8, 0.5, 2.0, 1.5)),
    "JJ": ({"jawOpen": 0.25, "mouthStretch": 0.3, "mouthSmile": 0.2}, (0.4, 0.3, 0.5, 1.0)),
    "AA": ({"jawOpen": 0.50, "mouthLowerDown": 0.25, "mouthUpperUp": 0.1}, (1.0, 1.0, 0.8, 0.8)),
    "OO": ({"jawOpen": 0.47, "mouthFunnel": 0.5, "mouthPucker": 0.2}, (1.0, 1.0, 1.2, 1.0)),
    "EE": ({"jawOpen": 0.44, "mouthStretch": 0.35, "mouthSmile": 0.15, "mouthLowerDown": 0.15}, (1.0, 1.0, 0.8, 1.0)),
    "SCHWA": ({"jawOpen": 0.41, "mouthLowerDown": 0.1}, (0.9, 0.8, 0.5, 0.5)),
    "II": ({"jawOpen": 0.36, "mouthSmile": 0.35, "mouthStretch": 0.45, "mouthLowerDown": 0.1, "mouthUpperUp": 0.1},
           (1.0, 1.0, 0.8, 1.2)),
    "UU": ({"jawOpen": 0.35, "mouthPucker": 0.7, "mouthFunnel": 0.45}, (1.0, 1.0, 1.5, 1.0)),
    "YY": ({"jawOpen": 0.35, "mouthPucker": 0.6, "mouthFunnel": 0.3, "mouthSmile": 0.05}, (1.0, 1.0, 1.3, 1.0)),
}  # fmt: skip
V2 = Rules(
    name="v2",
    visemes=_V2_VISEMES,
    theta={"jaw": (40.0, 50.0), "lips": (120.0, 200.0), "round": (11.0, 16.0), "spread": (16.0, 22.0)},
    min_extent_s={"PP": 0.05, "FF": 0.04},
    ipa=_ipa_map({**_V1_IPA_CHARS, "DD": "tdʈɖɗ", "NN": "nlɾɫɭɳɬɮɽ"}),
    arpa={**_V1_ARPA, **dict.fromkeys(("n", "l", "dx", "el", "en", "ng"), "NN")},
)
RULES = {r.name: r for r in (V1, V2)}
DEFAULT_RULES = V2
_AFFRICATES = {"tʃ": "CH", "dʒ": "CH", "tɕ": "CH", "dʑ": "CH", "ts": "SS", "dz": "SS", "pf": "FF"}


def _strip(symbol: str) -> str:
    # Length marks, stress, tone digits, aspiration/palatalisation and combining diacritics.
    out = []
    for ch in unicodedata.normalize("NFD", symbol):
        if unicodedata.combining(ch) or ch in "ːˑˈˌʰʲʷˠˤ'ʼ-" or ch.isdigit():
            continue
        out.append(ch)
    return "".join(out)


def viseme_sequence(symbol: str, alphabet: Alphabet = "ipa", rules: Rules | None = None) -> list[str]:
    """The viseme(s) of one phoneme symbol; diphthongs give two (their first and second half).

    ``alphabet``: "ipa" (espeak-ng) or "arpa" (flite/festival); they share letters with different
    meanings ("y", "th"), so the caller says which. ``rules``: the model (default: the labels').
    """
    rules = rules or DEFAULT_RULES
    if symbol == SILENCE or not symbol:
        return ["sil"]
    if alphabet == "arpa":
        return rules.arpa.get(symbol.lower().rstrip("012"), "HH").split("+")
    s = _strip(symbol)
    if s[:2] in _AFFRICATES:
        return [_AFFRICATES[s[:2]]]
    visemes = [rules.ipa[ch] for ch in s if ch in rules.ipa]
    if not visemes:
        return ["HH"]  # unknown or modifier-only symbols (e.g. a lone "ʲ") take their neighbours' shape
    vowels = [v for v in visemes if v in VOWEL_VISEMES]
    if len(vowels) >= 2:
        return [vowels[0], vowels[-1]]
    return [vowels[0]] if vowels else [visemes[0]]


def viseme_segments(
    phonemes: list[tuple[float, float, str]], alphabet: Alphabet = "ipa", rules: Rules | None = None
) -> list[tuple[float, float, str]]:
    """Phoneme segments -> viseme segments (a diphthong's first viseme takes 60% of its time)."""
    out = []
    for start, end, sym in phonemes:
        seq = viseme_sequence(sym, alphabet, rules)
        if len(seq) == 1:
            out.append((start, end, seq[0]))
        else:
            mid = start + 0.6 * (end - start)
            out += [(start, mid, seq[0]), (mid, end, seq[1])]
    return out


def mouth_curves(
    phonemes: list[tuple[float, float, str]],
    times: np.ndarray,
    alphabet: Alphabet = "ipa",
    rules: Rules | None = None,
    energy: np.ndarray | None = None,
) -> np.ndarray:
    """Blendshape curves (len(times), len(CHANNELS)) in 0..1 at ``times`` seconds.

    ``energy``: loudness (dB) at ``times``, which rules with a syllable magnitude need (else unused).
    """
    rules = rules or DEFAULT_RULES
    segs = viseme_segments(phonemes, alphabet, rules)
    t = np.asarray(times, np.float64)[:, None]
    if not segs:
        return np.zeros((len(t), len(CHANNELS)), np.float32)
    start = np.array([s for s, _, _ in segs])
    end = np.array([e for _, e, _ in segs])
    names = [v for _, _, v in segs]
    # Short closures are widened (symmetrically) to their minimum articulatory extent.
    min_ext = np.array([rules.min_extent_s.get(v, 0.0) for v in names])
    grow = np.maximum(0.0, min_ext - (end - start)) / 2
    start, end = start - grow, end + grow
    before = np.maximum(0.0, start[None, :] - t)  # (T, S) distance when t precedes the segment
    after = np.maximum(0.0, t - end[None, :])
    targets = np.array([[rules.visemes[v][0].get(c, 0.0) for c in CHANNELS] for v in names])  # (S, C)
    if rules.magnitude_per_db and energy is not None:
        targets[:, _JAW_CHANNELS] *= syllable_magnitude(names, start, end, times, energy, rules)[:, None]
    alphas = np.array([rules.visemes[v][1] for v in names])  # (S, 4)
    out = np.zeros((len(t), len(CHANNELS)))
    for g, group in enumerate(("jaw", "lips", "round", "spread")):
        theta_before, theta_after = rules.theta[group]
        dom = alphas[None, :, g] * np.exp(-theta_before * before - theta_after * after)  # (T, S)
        dom_sum = dom.sum(axis=1, keepdims=True) + 1e-9
        for c, channel in enumerate(CHANNELS):
            if _GROUP[channel] == group:
                out[:, c] = (dom @ targets[:, c]) / dom_sum[:, 0]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


_JAW_CHANNELS = [c for c, channel in enumerate(CHANNELS) if _GROUP[channel] == "jaw"]


def syllable_magnitude(
    names: list[str], start: np.ndarray, end: np.ndarray, times: np.ndarray, energy: np.ndarray, rules: Rules
) -> np.ndarray:
    """(S,) factor on each viseme segment's jaw targets: a vowel louder than the utterance's median
    vowel opens wider, a quieter one less; consonants and silence keep 1."""
    t = np.asarray(times, np.float64)
    factor = np.ones(len(names))
    level = {}
    for i, v in enumerate(names):
        if v in VOWEL_VISEMES and len(t):
            inside = (t >= start[i]) & (t < end[i])
            if inside.any():
                level[i] = float(energy[inside].mean())
            else:  # a vowel shorter than a frame takes the frame nearest its middle
                level[i] = float(energy[np.argmin(np.abs(t - (start[i] + end[i]) / 2))])
    if level:
        median = float(np.median(list(level.values())))
        lo, hi = rules.magnitude_range
        for i, db in level.items():
            factor[i] = np.clip(1.0 + rules.magnitude_per_db * (db - median), lo, hi)
    return factor


def is_vowel(symbol: str, alphabet: Alphabet = "ipa") -> bool:
    """True where the phoneme's (first) viseme is a vowel: a syllable nucleus."""
    return viseme_sequence(symbol, alphabet)[0] in VOWEL_VISEMES


def alphabet_of(engine: str) -> Alphabet:
    """The phoneme alphabet an engine reports."""
    return "ipa" if engine == "espeak" else "arpa"


# Channels that change the inner-lip gap on the rig (mouthSmile etc. do not, measurably).
_GAP_CHANNELS = ("jawOpen", "mouthClose", "mouthPress", "mouthUpperUp", "mouthLowerDown", "mouthFunnel", "mouthPucker")


@cache
def lip_gap_per_unit() -> dict[str, float]:
    """Inner-lip gap (canonical face heights) each blendshape adds at 1.0 on the rig's template.

    Measured from :func:`candor.generator.blendshapes.basis` at the inner-lip midpoints, so the
    labels close the lips on the rig that renders them (jawOpen ~ +0.16, mouthClose ~ -0.13).
    """
    from candor.generator import landmarks as L
    from candor.generator import motion as M
    from candor.generator.blendshapes import basis
    from candor.generator.canonical import load_template

    template, _ = load_template()
    B = basis(template)
    out = {}
    for name in _GAP_CHANNELS:
        k = M.BLENDSHAPES.index(name)
        out[name] = float(B[k, L.LOWER_LIP_INNER, 1] - B[k, L.UPPER_LIP_INNER, 1])
    return out


def lip_aperture(motion: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap of (T, motion.DIM) motion in canonical face heights (<= 0: lips closed)."""
    from candor.generator import motion as M

    gap = lip_gap_per_unit()
    return sum(motion[:, M.index(name)] * gap[name] for name in _GAP_CHANNELS)


def close_lips(closure: np.ndarray, shapes: dict[str, np.ndarray]) -> np.ndarray:
    """mouthClose (T,) that closes ``closure`` (0..1) of the gap the other mouth shapes open."""
    gap = lip_gap_per_unit()
    opening = sum(shapes.get(name, 0.0) * gap[name] for name in _GAP_CHANNELS if name != "mouthClose")
    return np.clip(closure * np.maximum(opening, 0.0) / -gap["mouthClose"], 0.0, 1.0).astype(np.float32)
