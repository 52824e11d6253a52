"""A scripted performance for demos and tests: speech-like jaw motion, blinks, a nod, a look
aside and a smile, as offsets around a portrait's baseline (see ``animator.relative_to_source``)."""

from __future__ import annotations

import numpy as np

from candor.generator import motion


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth raised-cosine bump of ``width`` seconds centred at ``centre``."""
    x = np.clip((t - centre) / width * 2, -1, 1)
    return 0.5 * (1 + np.cos(np.pi * x))


def scripted_offsets(seconds: float = 6.0, fps: int = 25, seed: int = 0) -> np.ndarray:
    """(T, DIM) motion offsets: syllables at ~4 Hz with pauses, blinks every 2-4 s, a nod at
    1.5 s, a look to the side at 3.5 s, a smile in the last third, slow head drift."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fps)
    t = np.arange(n) / fps
    off = np.zeros((n, motion.DIM), np.float32)
    col = motion.index

    # Speech: syllable onsets ~4 Hz in phrases of 1.2-2 s separated by 0.3-0.5 s pauses.
    jaw = np.zeros(n)
    close = np.zeros(n)
    start = 0.3
    while start < seconds - 0.4:
        phrase = rng.uniform(1.2, 2.0)
        s = start
        while s < min(start + phrase, seconds - 0.3):
            dur = rng.uniform(0.18, 0.3)
            jaw += rng.uniform(0.25, 0.75) * _bump(t, s + dur / 2, dur)
            if rng.random() < 0.2:  # a bilabial closes the lips at the syllable's start
                close += 0.6 * _bump(t, s, 0.08)
            s += dur
        start = s + rng.uniform(0.3, 0.5)
    off[:, col("jawOpen")] = np.clip(jaw, 0, 1)
    off[:, col("mouthClose")] = np.clip(close, 0, 1) * 0.5
    off[:, col("mouthPress")] = np.clip(close, 0, 1) * 0.3

    # Blinks: 0.25 s, every 2-4 s.
    b = rng.uniform(0.8, 1.5)
    while b < seconds:
        blink = _bump(t, b, 0.25)
        off[:, col("eyeBlinkLeft")] += blink
        off[:, col("eyeBlinkRight")] += blink
        b += rng.uniform(2.0, 4.0)

    # Head: slow drift, a nod at 1.5 s, a turn + glance aside at 3.5 s.
    off[:, col("yaw")] = 3 * np.sin(2 * np.pi * 0.15 * t) + 12 * _bump(t, 3.6, 1.2)
    off[:, col("pitch")] = 2 * np.sin(2 * np.pi * 0.11 * t + 1) - 8 * _bump(t, 1.5, 0.6) + 3 * _bump(t, 1.9, 0.4)
    off[:, col("roll")] = 2 * np.sin(2 * np.pi * 0.07 * t)
    off[:, col("gazeYaw")] = 18 * _bump(t, 3.6, 1.0)
    off[:, col("browInnerUp")] = 0.5 * _bump(t, 1.4, 0.5)
    off[:, col("browOuterUpLeft")] = 0.3 * _bump(t, 1.4, 0.5)
    off[:, col("browOuterUpRight")] = 0.3 * _bump(t, 1.4, 0.5)

    # Smile in the last third.
    smile = np.clip((t - 2 * seconds / 3) / 0.5, 0, 1) * 0.6
    off[:, col("mouthSmileLeft")] = smile
    off[:, col("mouthSmileRight")] = smile
    return off
