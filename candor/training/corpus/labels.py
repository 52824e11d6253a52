"""Per-frame motion labels for one utterance: visemes + prosody-driven non-verbal motion + emotion."""

from __future__ import annotations

import numpy as np

from candor.generator import motion as M
from candor.generator.controls import Controls
from candor.training.corpus import nonverbal as nv
from candor.training.corpus.tts import SAMPLE_RATE, SILENCE
from candor.training.corpus.visemes import CHANNELS, Alphabet, Rules, close_lips, is_vowel, mouth_curves

FPS = 25


def frame_count(samples: int, fps: int = FPS) -> int:
    """T = ceil(samples * fps / 16000) in exact integers (float ceil misfires on exact multiples)."""
    return -(-samples * fps // SAMPLE_RATE)


def frame_times(duration: float, fps: int = FPS) -> np.ndarray:
    """Frame-centre times (s) of the T frames covering ``duration`` seconds of 16 kHz audio."""
    return (np.arange(frame_count(round(duration * SAMPLE_RATE), fps)) + 0.5) / fps


def prosody(
    audio: np.ndarray, phonemes: list[tuple[float, float, str]], times: np.ndarray, alphabet: Alphabet
) -> nv.Prosody:
    """Frame energy/f0 and syllable events of 16 kHz ``audio`` at frame centres ``times``."""
    import librosa  # heavy; only the builder needs it

    hop = SAMPLE_RATE // FPS
    n = len(times)
    padded = np.pad(audio.astype(np.float32), (0, max(0, n * hop - len(audio))))
    frames = padded[: n * hop].reshape(n, hop)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    energy = np.maximum(20 * np.log10(rms / (rms.max() + 1e-12)), -60.0)
    # yin frames centred on the frame centres (pad half a hop in front).
    f0 = librosa.yin(
        np.pad(padded, (hop // 2, 1024)), fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=hop
    )[:n]
    centre_sym = _symbol_at(phonemes, times)
    vowel = np.array([s != SILENCE and is_vowel(s, alphabet) for s in centre_sym])
    voiced = vowel & (energy > -30)
    f0_z = np.zeros(n)
    if voiced.sum() >= 3:
        lf = np.log(f0[voiced])
        f0_z[voiced] = (lf - lf.mean()) / (lf.std() + 1e-6)
    speaking = np.array([s != SILENCE for s in centre_sym], np.float64)

    nuclei = [(s, e) for s, e, sym in phonemes if sym != SILENCE and is_vowel(sym, alphabet)]
    stresses: list[tuple[float, float]] = []
    accents: list[tuple[float, float]] = []
    if nuclei:
        feats = []
        for s, e in nuclei:
            idx = (times >= s) & (times < e)
            if not idx.any():
                idx = np.argmin(np.abs(times - (s + e) / 2)) == np.arange(n)
            feats.append((energy[idx].mean(), f0_z[idx].mean(), e - s))
        f = np.array(feats)
        z = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6)
        score = z.sum(axis=1)
        cut = np.quantile(score, 0.6)
        for (s, _e), sc in zip(nuclei, score, strict=True):
            if sc >= cut:
                stresses.append((s, float(np.clip(0.3 + 0.25 * sc, 0.0, 1.0))))
        pitch = f[:, 1]
        for i, (s, _e) in enumerate(nuclei):
            left = pitch[i - 1] if i > 0 else -np.inf
            right = pitch[i + 1] if i + 1 < len(pitch) else -np.inf
            if pitch[i] > 0.7 and pitch[i] >= left and pitch[i] >= right:
                accents.append((s, float(np.clip((pitch[i] - 0.5) / 1.5, 0.0, 1.0))))
    pauses = [(s, e) for s, e, sym in phonemes if sym == SILENCE and e - s >= 0.15]
    return nv.Prosody(energy, f0_z, speaking, stresses, accents, pauses)


def _symbol_at(phonemes: list[tuple[float, float, str]], times: np.ndarray) -> list[str]:
    if not phonemes:
        return [SILENCE] * len(times)
    starts = np.array([s for s, _, _ in phonemes])
    idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(phonemes) - 1)
    return [
        phonemes[i][2] if phonemes[i][0] <= t < phonemes[i][1] else SILENCE for i, t in zip(idx, times, strict=True)
    ]


def motion_labels(
    audio: np.ndarray,
    phonemes: list[tuple[float, float, str]],
    controls: Controls,
    style: nv.Style,
    rng: np.random.Generator,
    alphabet: Alphabet = "ipa",
    rules: Rules | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(motion (T, motion.DIM) float32, mouth_open (T,) float32) for 16 kHz ``audio``.

    ``mouth_open`` is the viseme jawOpen curve with the speaker's articulation, before emotion
    and the other non-verbal additions. ``rules``: the articulatory model (default: the current one).
    """
    times = frame_times(len(audio) / SAMPLE_RATE)
    n = len(times)
    pro = prosody(audio, phonemes, times, alphabet)
    mouth = mouth_curves(phonemes, times, alphabet, rules, energy=pro.energy)
    ch = {c: mouth[:, i] for i, c in enumerate(CHANNELS)}
    for c in ("jawOpen", "mouthLowerDown", "mouthUpperUp", "mouthFunnel", "mouthPucker"):
        ch[c] = np.clip(ch[c] * style.articulation, 0, 1)
    mouth_open = ch["jawOpen"].astype(np.float32)

    off = nv.emotion_offsets(controls)
    jf = nv.jaw_factor(controls)
    out = np.zeros((n, M.DIM), np.float32)

    def put(name: str, values: np.ndarray | float) -> None:
        out[:, M.index(name)] = values

    out[:, M.POSE_SLICE] = nv.head_pose(times, pro, style, controls, rng)
    shapes = {
        "jawOpen": np.clip(ch["jawOpen"] * jf + off.get("jawOpen", 0.0) * (1 - ch["lipClosure"]), 0, 1),
        "mouthPress": np.clip(ch["mouthPress"] + off.get("mouthPress", 0.0), 0, 1),
        "mouthFunnel": ch["mouthFunnel"],
        "mouthPucker": ch["mouthPucker"],
        "mouthUpperUp": np.clip(ch["mouthUpperUp"] * jf, 0, 1),
        "mouthLowerDown": np.clip(ch["mouthLowerDown"] * jf, 0, 1),
    }
    # mouthClose last: it closes the lips against whatever the other shapes open.
    shapes["mouthClose"] = close_lips(ch["lipClosure"], shapes)
    for name, values in shapes.items():
        put(name, values)
    # A smile gives way to rounding: the lips cannot spread and pucker at once.
    rounding = np.maximum(ch["mouthPucker"], ch["mouthFunnel"])
    for side in ("Left", "Right"):
        put(f"mouthSmile{side}", ch["mouthSmile"] + off.get(f"mouthSmile{side}", 0.0) * (1 - 0.6 * rounding))
        put(f"mouthStretch{side}", ch["mouthStretch"])
        put(f"mouthFrown{side}", off.get(f"mouthFrown{side}", 0.0))
    lid, _ = nv.blinks(times, pro, style, controls, rng)
    eyes = nv.gaze(times, pro, style, controls, rng)
    # Looking down lowers the upper lids a little.
    droop = np.clip(-eyes[:, 1], 0, None) / 60.0
    put("eyeBlinkLeft", lid + droop)
    put("eyeBlinkRight", np.clip(lid * rng.uniform(0.95, 1.0), 0, 1) + droop)
    for side in ("Left", "Right"):
        put(f"eyeWide{side}", off.get(f"eyeWide{side}", 0.0) * (1 - lid))
    raise_ = nv.brows(times, pro, style, rng)
    put("browInnerUp", off.get("browInnerUp", 0.0) + 0.8 * raise_)
    for side in ("Left", "Right"):
        put(f"browOuterUp{side}", off.get(f"browOuterUp{side}", 0.0) + raise_)
        put(f"browDown{side}", off.get(f"browDown{side}", 0.0) * (1 - raise_))
    out[:, M.GAZE_SLICE] = eyes
    return np.clip(out, M.LOWER, M.UPPER).astype(np.float32), mouth_open
