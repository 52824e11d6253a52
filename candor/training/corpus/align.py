"""Phone timing of real speech with pocketsphinx: forced alignment and phone-loop recognition.

pocketsphinx's wheel ships an en-US acoustic model, the CMU dictionary and a phone n-gram, so
both run offline (Rhubarb Lip Sync builds its lip sync on the same two modes):

- :meth:`PhoneTimer.align` aligns a known English transcript: word -> phone segments, the
  truth the labels and the benchmark use where a transcript exists;
- :meth:`PhoneTimer.recognize` runs a phone loop with no transcript and no language: the
  acoustically closest en-US phones. Mouth shapes follow articulation (an /m/ closes the lips
  in any language), so for speech without an English transcript the recognized phones stand in
  for the true ones; ``candor corpus real`` measures how closely on English, where both exist.

Phones come back as ``(start_s, end_s, phone)`` segments covering the whole clip, in the
lower-case ARPAbet that ``visemes`` reads with ``alphabet="arpa"``; silence and noise are
``tts.SILENCE``.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from candor.training.corpus.tts import SAMPLE_RATE, SILENCE, segments_from_onsets

FRAME_S = 0.01  # pocketsphinx's analysis frame
# Silence and the acoustic model's filler phones (noise, breath, cough...).
_NON_SPEECH = re.compile(r"^(SIL|\+.*\+|<.*>|\[.*\])$", re.IGNORECASE)


class AlignmentError(ValueError):
    """A transcript that cannot be aligned (unknown words, or the decoder found no path)."""


def _pcm(audio: np.ndarray) -> bytes:
    """16 kHz float samples in [-1, 1] -> the little-endian int16 bytes pocketsphinx reads."""
    return np.clip(np.round(np.asarray(audio, np.float32) * 32767), -32768, 32767).astype("<i2").tobytes()


def _phone(name: str) -> str:
    return SILENCE if _NON_SPEECH.match(name) else name.lower()


class PhoneTimer:
    """One pocketsphinx decoder per mode, made on first use (loading takes ~0.1 s)."""

    def __init__(self, phone_lm: bool = False) -> None:
        # Without the phone n-gram every phone sequence has the same prior: no English
        # phonotactics imposed on other languages (and on English it found more of the phones).
        self.phone_lm = phone_lm

    @cached_property
    def _aligner(self):
        from pocketsphinx import Decoder, get_model_path

        return Decoder(
            hmm=get_model_path("en-us/en-us"),
            dict=get_model_path("en-us/cmudict-en-us.dict"),
            lm=None,
            loglevel="FATAL",
        )

    @cached_property
    def _phone_loop(self):
        from pocketsphinx import Decoder, get_model_path

        lm = get_model_path("en-us/en-us-phone.lm.bin") if self.phone_lm else None
        # lw 2 (not the word-LM default 6.5): a heavier phone n-gram swallows most phones.
        decoder = Decoder(hmm=get_model_path("en-us/en-us"), lm=None, loglevel="FATAL", lw=2.0)
        decoder.add_allphone_file("phones", lm)
        decoder.activate_search("phones")
        return decoder

    def known(self, word: str) -> bool:
        """True where the dictionary has a pronunciation of ``word`` (lower case)."""
        return self._aligner.lookup_word(word) is not None

    def align(self, audio: np.ndarray, words: list[str]) -> list[tuple[float, float, str]]:
        """Phone segments of 16 kHz ``audio`` speaking ``words`` (dictionary words, lower case)."""
        missing = [w for w in words if not self.known(w)]
        if missing or not words:
            raise AlignmentError(f"not in the pronunciation dictionary: {' '.join(missing) or '(no words)'}")
        d, pcm = self._aligner, _pcm(audio)
        try:
            d.set_align_text(" ".join(words))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            d.set_alignment()  # second pass: phone (and state) durations inside each word
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            alignment = d.get_alignment()
        except RuntimeError as exc:
            raise AlignmentError(str(exc)) from None
        if alignment is None:
            raise AlignmentError("the decoder found no alignment")
        onsets = [(p.start * FRAME_S, _phone(p.name)) for word in alignment for p in word]
        if not any(sym != SILENCE for _, sym in onsets):
            raise AlignmentError("the alignment holds no speech")
        return self._segments(onsets, audio)

    def recognize(self, audio: np.ndarray) -> list[tuple[float, float, str]]:
        """Phone segments of 16 kHz ``audio`` in any language, by en-US phone-loop recognition."""
        d = self._phone_loop
        d.start_utt()
        d.process_raw(_pcm(audio), full_utt=True)
        d.end_utt()
        onsets = [(seg.start_frame * FRAME_S, _phone(seg.word)) for seg in d.seg()]
        return self._segments(onsets, audio)

    @staticmethod
    def _segments(onsets: list[tuple[float, str]], audio: np.ndarray) -> list[tuple[float, float, str]]:
        # Gaps between words (the aligner skips optional silences) become silence segments.
        duration = len(audio) / SAMPLE_RATE
        return segments_from_onsets([(t, s) for t, s in onsets if t < duration], duration)


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> list[str]:
    """English words of 0 <= n < 1,000,000 (prompts say "press 1", "100 percent")."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])


_SYMBOLS = {"#": "pound", "*": "star", "&": "and", "%": "percent", "@": "at"}


def transcript_words(text: str) -> list[str] | None:
    """Prompt text -> lower-case words to align, or None for a prompt that is not plain speech.

    Bracketed descriptions ("[ascending tones]") mark tones and effects, not speech.
    """
    if "[" in text or "<" in text:
        return None
    words: list[str] = []
    for token in re.findall(r"\d+|[A-Za-z]+(?:'[A-Za-z]+)?|[#*&%@]", text):
        if token.isdigit():
            if len(token) > 6:
                return None
            words += number_words(int(token))
        elif token in _SYMBOLS:
            words.append(_SYMBOLS[token])
        else:
            words.append(token.lower())
    return words or None
