"""The TTS voice catalogue and the train/validation split by whole voices and one whole engine.

A voice is one speaker identity: an engine plus that engine's voice name (for espeak-ng a
language voice with a timbre variant, e.g. ``ru+f4``). Validation holds out (a) every festival
utterance and (b) whole voices of the other engines: espeak-ng variants in VAL_ESPEAK_VARIANTS
(in every language) and flite voices in VAL_FLITE_VOICES. No voice or engine of the validation
split ever appears in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from candor.training.corpus.text import LANGUAGES

Engine = Literal["espeak", "flite", "festival"]
Split = Literal["train", "val"]

VAL_ENGINE: Engine = "festival"
# espeak-ng language voices per text language (names the C library accepts).
ESPEAK_LANGUAGE_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("en-us", "en"),
    "es": ("es", "es-419"),
    "fr": ("fr",),
    "de": ("de",),
    "it": ("it",),
    "pt": ("pt", "pt-br"),
    "nl": ("nl",),
    "pl": ("pl",),
    "tr": ("tr",),
    "id": ("id",),
    "sw": ("sw",),
    "ru": ("ru",),
    "el": ("el",),
    "hi": ("hi",),
    "ja": ("ja",),
    "zh": ("cmn-latn-pinyin",),
}
# Timbre variants (espeak-ng-data/voices/!v); robotic and whispering ones are left out.
TRAIN_ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f5", "Andy", "Annie", "Alicia",
    "belinda", "benjamin", "david", "max", "paul", "steph", "travis", "zac", "adam", "aunty",
    "boris", "iven", "john", "michel", "norbert", "quincy", "robert", "klatt",
)  # fmt: skip
VAL_ESPEAK_VARIANTS = ("f4", "m6", "linda", "edward")
TRAIN_FLITE_VOICES = ("slt", "awb", "kal16")
VAL_FLITE_VOICES = ("rms",)
# Typical pitch (Hz) of each flite/festival voice, to randomise around.
F0_MEAN = {"slt": 180.0, "awb": 110.0, "kal16": 105.0, "rms": 105.0}

# Share of utterances per engine (festival is ~15x real time, so it stays small).
ENGINE_SHARE: dict[Engine, float] = {"espeak": 0.74, "flite": 0.20, "festival": 0.06}


@dataclass(frozen=True)
class Voice:
    engine: Engine
    name: str  # what the engine is given: "en-us+f3", "slt", "kal_diphone"
    language: str  # key of text.CLAUSES

    @property
    def id(self) -> str:
        """Speaker identity used for the split and the per-speaker style, e.g. "espeak:ru+f4"."""
        return f"{self.engine}:{self.name}"

    @property
    def split(self) -> Split:
        return split_of(self)


def split_of(voice: Voice) -> Split:
    """ "val" for the held-out engine and held-out voices, else "train"."""
    if voice.engine == VAL_ENGINE:
        return "val"
    if voice.engine == "espeak":
        return "val" if voice.name.partition("+")[2] in VAL_ESPEAK_VARIANTS else "train"
    return "val" if voice.name in VAL_FLITE_VOICES else "train"


def sample_voice(rng: np.random.Generator, festival_voices: list[str]) -> Voice:
    """A random voice; engines by ENGINE_SHARE (festival only where a voice is installed)."""
    shares = dict(ENGINE_SHARE)
    if not festival_voices:
        shares.pop("festival")
    engines = list(shares)
    p = np.array([shares[e] for e in engines])
    engine = engines[int(rng.choice(len(engines), p=p / p.sum()))]
    if engine == "festival":
        return Voice("festival", festival_voices[int(rng.integers(len(festival_voices)))], "en")
    if engine == "flite":
        voices = TRAIN_FLITE_VOICES + VAL_FLITE_VOICES
        return Voice("flite", voices[int(rng.integers(len(voices)))], "en")
    language = LANGUAGES[int(rng.integers(len(LANGUAGES)))]
    base = ESPEAK_LANGUAGE_VOICES[language]
    variants = TRAIN_ESPEAK_VARIANTS + VAL_ESPEAK_VARIANTS
    name = f"{base[int(rng.integers(len(base)))]}+{variants[int(rng.integers(len(variants)))]}"
    return Voice("espeak", name, language)
