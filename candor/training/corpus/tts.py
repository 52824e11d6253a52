"""Local TTS engines that report phoneme timings: espeak-ng (in-process), flite and festival.

Every engine returns a :class:`Speech`: 16 kHz mono float32 audio plus ``[(start_s, end_s, symbol)]``
phoneme segments covering the audio; silence is the symbol ``"_"``. Symbols keep each engine's
own alphabet (IPA for espeak-ng, the US-English "radio" set for flite and festival); the viseme
map in :mod:`candor.training.corpus.visemes` understands all of them.
"""

from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from candor.errors import CandorError
from candor.generator.controls import SAMPLE_RATE  # the corpus is made at the model's rate

SILENCE = "_"
# espeak-ng's phoneme events arrive ~13-15 ms after the phoneme's acoustic onset (FIELD-NOTES,
# measured against an independent aligner), so their times are moved earlier by this much.
ESPEAK_EVENT_LAG_S = 0.014

FLITE_VOICES = ("slt", "awb", "rms", "kal16")
_FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"),)


class TTSError(CandorError):
    """A TTS engine is missing or failed to synthesise an utterance."""


@dataclass
class Speech:
    """``audio``: (N,) float32 in [-1, 1] at 16 kHz; ``phonemes``: [(start_s, end_s, symbol)],
    contiguous, sorted, covering [0, N / 16000]."""

    audio: np.ndarray
    phonemes: list[tuple[float, float, str]]

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def segments_from_onsets(onsets: list[tuple[float, str]], duration: float) -> list[tuple[float, float, str]]:
    """Turn (onset_s, symbol) events into contiguous segments ending at ``duration`` seconds.

    Zero-length segments are dropped, neighbouring silences merged, a leading gap becomes silence.
    """
    events = sorted(((max(0.0, min(t, duration)), s) for t, s in onsets), key=lambda e: e[0])
    segs: list[tuple[float, float, str]] = []
    if not events or events[0][0] > 0.0:
        events.insert(0, (0.0, SILENCE))
    for i, (start, sym) in enumerate(events):
        end = events[i + 1][0] if i + 1 < len(events) else duration
        if end - start <= 1e-6:
            continue
        if segs and sym == SILENCE and segs[-1][2] == SILENCE:
            segs[-1] = (segs[-1][0], end, SILENCE)
        else:
            segs.append((start, end, sym))
    if segs and segs[-1][1] < duration:
        segs[-1] = (segs[-1][0], duration, segs[-1][2])
    return segs


def _to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if sr == SAMPLE_RATE:
        return audio
    g = np.gcd(sr, SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, sr // g).astype(np.float32)


# --- espeak-ng through its C library -------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4


class _EspeakEvent(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; the id union is 8 bytes (a phoneme name for PHONEME events).
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


class _LibEspeak:
    """espeak-ng loaded in this process (the library is global state: one instance per process).

    ``voice`` is an espeak-ng voice name with an optional variant, e.g. ``"en-us+f3"``;
    ``rate`` words/minute (80-450), ``pitch`` and ``pitch_range`` 0-100 (50 is the voice default).
    """

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        # Keep a reference: ctypes callbacks are freed with their Python object.
        self._callback = _SynthCallback(self._on_audio)
        self._lib: ctypes.CDLL | None = None
        self._used = False
        self._load()

    def _load(self) -> None:
        """(Re)load and initialise the library.

        espeak-ng carries synthesis state from one utterance to the next (the same text comes out a
        few samples different depending on what was spoken before), so a used library is unloaded
        and loaded afresh (~10 ms): each utterance then depends only on its own inputs.
        """
        if self._lib is not None:
            _ctypes.dlclose(self._lib._handle)
        try:
            self._lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as exc:
            raise TTSError(f"espeak-ng library not found ({exc}); install libespeak-ng1") from None
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self.sr = int(
            self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA)
        )
        if self.sr <= 0:
            raise TTSError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._lib.espeak_SetSynthCallback(self._callback)
        self._used = False

    def _on_audio(self, wav: ctypes.Array, n: int, events: ctypes.Array) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.sample, ev.id.decode("utf-8", "replace")))
            i += 1
        return 0

    def synth(self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> Speech:
        """Synthesise ``text``; phoneme onsets are corrected for the library's event lag."""
        if self._used:
            self._load()
        self._used = True
        # Breathy/klatt variants draw noise from libc's rand(), whose state outlives the reload.
        _libc().srand(0)
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise TTSError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if not self._chunks:
            raise TTSError(f"espeak-ng produced no audio for {text[:40]!r}")
        raw = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        onsets = []
        for sample, name in self._events:
            if name.startswith("("):  # language-switch markers such as "(en)", not sounds
                continue
            onsets.append((sample / self.sr - ESPEAK_EVENT_LAG_S, name or SILENCE))
        audio = _to_16k(raw, self.sr)
        return Speech(audio, segments_from_onsets(onsets, len(audio) / SAMPLE_RATE))


_worker_engine: _LibEspeak | None = None
_dedicated_process = False  # set in single-purpose worker processes: load espeak-ng right there


def use_in_process_engine() -> None:
    """Declare this process a dedicated worker (no other threads): espeak-ng runs in it directly
    instead of in a child process (a worker process may not be able to start its own)."""
    global _dedicated_process
    _dedicated_process = True


def _synth_in_worker(text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> Speech:
    global _worker_engine
    if _worker_engine is None:
        _worker_engine = _LibEspeak()
    return _worker_engine.synth(text, voice, rate, pitch, pitch_range)


class Espeak:
    """espeak-ng with phoneme events, run in a dedicated child process.

    The library is reloaded before every utterance (it carries synthesis state between
    utterances); unloading and reloading a C library inside a busy, many-threaded process can
    crash it, so that happens in a small single-purpose worker instead. A worker that dies is
    replaced and the utterance retried once. ``voice``, ``rate``, ``pitch``, ``pitch_range`` as
    in :meth:`_LibEspeak.synth`.
    """

    _instance: Espeak | None = None

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def shared(cls) -> Espeak:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def synth(self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> Speech:
        if _dedicated_process:
            return _synth_in_worker(text, voice, rate, pitch, pitch_range)
        for _attempt in range(2):
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
            try:
                return self._pool.submit(_synth_in_worker, text, voice, rate, pitch, pitch_range).result()
            except BrokenProcessPool:
                self._pool = None
        raise TTSError(f"espeak-ng crashed twice synthesising {text[:40]!r}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


# --- flite (subprocess; `-psdur` prints phone:end_time) ---------------------------------------------

_FLITE_PHONE = re.compile(r"([a-z]+):([0-9.]+)")


def flite(text: str, voice: str, duration_stretch: float = 1.0, f0_mean: float | None = None) -> Speech:
    """Synthesise with flite; ``duration_stretch`` > 1 is slower; ``f0_mean`` Hz sets the pitch."""
    exe = shutil.which("flite")
    if exe is None:
        raise TTSError("flite is not installed")
    with tempfile.TemporaryDirectory(prefix="candor-flite-") as tmp:
        wav = Path(tmp) / "a.wav"
        cmd = [exe, "-voice", voice, "-psdur", "--setf", f"duration_stretch={duration_stretch:.3f}"]
        if f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0_mean:.1f}"]
        proc = subprocess.run([*cmd, "-t", text, "-o", str(wav)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not wav.is_file():
            raise TTSError(f"flite failed: {proc.stderr.strip()[:200]}")
        raw, sr = sf.read(wav, dtype="float32")
    audio = _to_16k(raw if raw.ndim == 1 else raw.mean(axis=1), sr)
    onsets, start = [], 0.0
    for name, end in _FLITE_PHONE.findall(proc.stdout):
        onsets.append((start, SILENCE if name == "pau" else name))
        start = float(end)
    return Speech(audio, segments_from_onsets(onsets, len(audio) / SAMPLE_RATE))


# --- festival (subprocess running a Scheme script that dumps the Segment relation) -----------------


def festival_voices() -> list[str]:
    """Installed festival voices, e.g. ``["kal_diphone", "cmu_us_slt_arctic_hts"]``."""
    names: set[str] = set()
    for root in _FESTIVAL_VOICE_DIRS:
        if root.is_dir():
            names.update(p.name for p in root.glob("*/*") if p.is_dir())
    return sorted(names) if shutil.which("festival") else []


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def festival(text: str, voice: str, duration_stretch: float = 1.0, f0_mean: float | None = None) -> Speech:
    """Synthesise with festival ``voice`` (a name from :func:`festival_voices`)."""
    exe = shutil.which("festival")
    if exe is None:
        raise TTSError("festival is not installed")
    with tempfile.TemporaryDirectory(prefix="candor-festival-") as tmp:
        wav, script = Path(tmp) / "a.wav", Path(tmp) / "a.scm"
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {duration_stretch:.3f})"]
        if f0_mean is not None:
            # Linear-regression intonation (diphone voices): move the target mean, keep the spread.
            lines.append(
                f"(set! int_lr_params '((target_f0_mean {f0_mean:.1f}) (target_f0_std {f0_mean * 0.14:.1f})"
                " (model_f0_mean 170) (model_f0_std 34)))"
            )
        lines += [
            f"(set! utt (Utterance Text {_scheme_string(text)}))",
            "(utt.synth utt)",
            f'(utt.save.wave utt "{wav}" \'riff)',
            '(mapcar (lambda (s) (format t "SEG %s %f\\n" (item.name s) (item.feat s "segment_start")))'
            " (utt.relation.items utt 'Segment))",
        ]
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = subprocess.run([exe, "--batch", str(script)], capture_output=True, text=True, timeout=300)
        if not wav.is_file():
            raise TTSError(f"festival failed: {(proc.stderr or proc.stdout).strip()[:200]}")
        raw, sr = sf.read(wav, dtype="float32")
    audio = _to_16k(raw if raw.ndim == 1 else raw.mean(axis=1), sr)
    onsets = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "SEG":
            onsets.append((float(parts[2]), SILENCE if parts[1] in ("pau", "#", "h#") else parts[1]))
    return Speech(audio, segments_from_onsets(onsets, len(audio) / SAMPLE_RATE))
