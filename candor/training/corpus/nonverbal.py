"""Non-verbal motion that makes a talking face look alive, driven by the audio's prosody.

Everything here is a per-frame curve at the corpus frame rate:

- head pose: slow drift (Ornstein-Uhlenbeck), nods on stressed syllables, tilts/turns on some of
  them, a posture change at long pauses, pitch following the voice's f0 and speech-energy jitter;
  all scaled by a per-speaker :class:`Style` and the emotion's motion energy.
- blinks: 10-25 per minute (the speaker's rate), placed preferentially in pauses, 100-300 ms,
  fast closing and slower opening.
- brows: raises on pitch accents.
- gaze: the requested main direction plus small saccades and occasional glances away in pauses.
- emotion: a static expression offset plus a motion-energy factor.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from candor.generator.controls import Controls

# Per-emotion (at intensity 1): blendshape offsets, head pitch offset (deg), motion energy factor,
# mouth articulation factor and blink-rate factor.
EMOTION_EFFECTS: dict[str, dict] = {
    "neutral": {"shapes": {}, "pitch": 0.0, "energy": 1.0, "jaw": 1.0, "blink": 1.0},
    "happy": {
        "shapes": {"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5, "browOuterUpLeft": 0.1, "browOuterUpRight": 0.1},
        "pitch": 1.5, "energy": 1.3, "jaw": 1.05, "blink": 1.0,
    },
    "sad": {
        "shapes": {"mouthFrownLeft": 0.45, "mouthFrownRight": 0.45, "browInnerUp": 0.5},
        "pitch": -5.0, "energy": 0.55, "jaw": 0.75, "blink": 1.15,
    },
    "angry": {
        "shapes": {"browDownLeft": 0.6, "browDownRight": 0.6, "mouthPress": 0.25, "mouthFrownLeft": 0.15,
                   "mouthFrownRight": 0.15, "eyeWideLeft": 0.15, "eyeWideRight": 0.15},
        "pitch": -2.0, "energy": 1.5, "jaw": 1.15, "blink": 0.9,
    },
    "surprised": {
        "shapes": {"eyeWideLeft": 0.6, "eyeWideRight": 0.6, "browInnerUp": 0.5, "browOuterUpLeft": 0.6,
                   "browOuterUpRight": 0.6, "jawOpen": 0.12},
        "pitch": 2.0, "energy": 1.2, "jaw": 1.1, "blink": 0.75,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Style:
    """A speaker's motion habits; amplitudes in degrees, rates per minute, times in seconds."""

    nod_amp: float
    nod_prob: float
    tilt_amp: float
    drift_yaw: float
    drift_pitch: float
    drift_roll: float
    drift_tau: float
    jitter: float
    f0_coupling: float
    posture_yaw: float
    posture_roll: float
    blink_rate: float
    blink_dur: float
    brow_amp: float
    brow_prob: float
    saccade_interval: float
    saccade_amp: float
    articulation: float

    @classmethod
    def for_speaker(cls, voice_id: str) -> Style:
        """The same style every time for one speaker identity (seeded by a hash of its id)."""
        r = np.random.default_rng(zlib.crc32(voice_id.encode()))
        return cls(
            nod_amp=r.uniform(1.5, 4.5),
            nod_prob=r.uniform(0.3, 0.8),
            tilt_amp=r.uniform(0.8, 3.0),
            drift_yaw=r.uniform(2.0, 6.0),
            drift_pitch=r.uniform(1.5, 4.0),
            drift_roll=r.uniform(1.0, 3.0),
            drift_tau=r.uniform(1.5, 4.0),
            jitter=r.uniform(0.3, 1.0),
            f0_coupling=r.uniform(0.3, 1.5),
            posture_yaw=r.uniform(-3.0, 3.0),
            posture_roll=r.uniform(-2.0, 2.0),
            blink_rate=r.uniform(12.0, 22.0),
            blink_dur=r.uniform(0.13, 0.22),
            brow_amp=r.uniform(0.15, 0.45),
            brow_prob=r.uniform(0.3, 0.8),
            saccade_interval=r.uniform(0.8, 2.5),
            saccade_amp=r.uniform(1.0, 4.0),
            articulation=r.uniform(0.85, 1.2),
        )


@dataclass
class Prosody:
    """Per-frame speech features and syllable events derived from audio + phoneme timings.

    ``energy``: (T,) loudness in dB relative to the utterance's loudest frame; ``f0_z``: (T,) f0 as a
    z-score within the utterance (0 where unvoiced); ``speaking``: (T,) 0..1 speech activity;
    ``stresses``: [(time_s, strength 0..1)] syllable nuclei; ``accents``: [(time_s, strength)]
    pitch accents; ``pauses``: [(start_s, end_s)] silences of at least 150 ms.
    """

    energy: np.ndarray
    f0_z: np.ndarray
    speaking: np.ndarray
    stresses: list[tuple[float, float]]
    accents: list[tuple[float, float]]
    pauses: list[tuple[float, float]]


def _bump(t: np.ndarray, t0: float, tau: float) -> np.ndarray:
    """A gamma-shaped pulse: 0 before t0, rising with zero slope (no kink), peak 1 at t0 + tau."""
    x = np.maximum(0.0, t - t0) / tau
    return x * x * np.exp(2.0 * (1.0 - x))


def _ou(n: int, fps: float, tau: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """Slow wandering: an Ornstein-Uhlenbeck path (time constant tau s, stationary std) smoothed
    over ~0.2 s, because a raw OU path is rough frame to frame (Brownian increments) and real
    posture drift is not."""
    a = np.exp(-1.0 / (fps * tau))
    noise = rng.standard_normal(n) * std * np.sqrt(1 - a * a)
    out = np.empty(n)
    x = rng.standard_normal() * std
    for i in range(n):
        x = a * x + noise[i]
        out[i] = x
    return _smooth(out, 0.2 * fps)


def _smooth(x: np.ndarray, frames: float) -> np.ndarray:
    if frames <= 0:
        return x
    r = int(np.ceil(3 * frames))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / frames) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def head_pose(
    times: np.ndarray, prosody: Prosody, style: Style, controls: Controls, rng: np.random.Generator
) -> np.ndarray:
    """(T, 6) yaw, pitch, roll (deg), tx, ty (frame widths), scale relative to the rest pose."""
    n, fps = len(times), 1.0 / (times[1] - times[0]) if len(times) > 1 else 25.0
    emo = EMOTION_EFFECTS[controls.emotion]
    k = controls.intensity if controls.emotion != "neutral" else 0.0
    energy = 1.0 + (emo["energy"] - 1.0) * k
    yaw = _ou(n, fps, style.drift_tau, style.drift_yaw, rng) + style.posture_yaw
    pitch = _ou(n, fps, style.drift_tau, style.drift_pitch, rng)
    roll = _ou(n, fps, style.drift_tau * 1.5, style.drift_roll, rng) + style.posture_roll
    # Nods: the chin dips on stressed syllables, starting just before the vowel.
    for t0, strength in prosody.stresses:
        if rng.random() < style.nod_prob:
            amp = style.nod_amp * (0.5 + strength) * energy * rng.uniform(0.7, 1.2)
            pitch -= amp * _bump(times, t0 - 0.06, rng.uniform(0.1, 0.16))
        if rng.random() < 0.25:
            side = rng.choice([-1.0, 1.0])
            roll += side * style.tilt_amp * strength * energy * _bump(times, t0 - 0.1, rng.uniform(0.2, 0.35))
            yaw += side * style.tilt_amp * 0.8 * strength * energy * _bump(times, t0 - 0.1, 0.3)
    # A new posture after long pauses (the head resettles for the next phrase).
    for start, end in prosody.pauses:
        if end - start > 0.3:
            step = np.clip((times - start) / max(0.2, end - start), 0, 1)
            step = 0.5 - 0.5 * np.cos(np.pi * step)
            yaw += rng.normal(0, style.drift_yaw * 0.5) * step * energy
            pitch += rng.normal(0, style.drift_pitch * 0.4) * step * energy
    # Head rises with the voice's pitch; speech energy adds small quick movements.
    pitch += style.f0_coupling * energy * _smooth(prosody.f0_z, 3)
    active = _smooth(prosody.speaking, 4)
    for arr, scale in ((yaw, 1.0), (pitch, 0.8), (roll, 0.5)):
        arr += _smooth(rng.standard_normal(n), 2.5) * style.jitter * scale * energy * active * 1.8
    pitch += emo["pitch"] * k
    # The head turns partly toward where the eyes look.
    yaw += 0.15 * controls.gaze_yaw
    pitch += 0.15 * controls.gaze_pitch
    # A head turning/tilting also moves the head centre; plus a small sway.
    tx = 0.0025 * yaw + 0.4 * 0.01 * _ou(n, fps, 3.0, 1.0, rng)
    ty = -0.002 * pitch + 0.3 * 0.01 * _ou(n, fps, 3.0, 1.0, rng)
    scale = (1.0 / controls.distance) * (1.0 + 0.01 * _ou(n, fps, 4.0, 1.0, rng))
    return np.stack([yaw, pitch, roll, tx, ty, scale], axis=1).astype(np.float32)


def blinks(
    times: np.ndarray, prosody: Prosody, style: Style, controls: Controls, rng: np.random.Generator
) -> tuple[np.ndarray, list[float]]:
    """(T,) eyelid closure 0..1 and the blink apex times (s).

    The count is Poisson with the speaker's rate (clipped to 10-25/min); times are drawn three
    times more densely in pauses, at least 0.7 s apart; each apex sits on a frame centre so a
    blink reaches full closure in at least one frame.
    """
    n = len(times)
    duration = times[-1] + (times[1] - times[0] if n > 1 else 0.04)
    k = controls.intensity if controls.emotion != "neutral" else 0.0
    rate = float(np.clip(style.blink_rate * (1 + (EMOTION_EFFECTS[controls.emotion]["blink"] - 1) * k), 10, 25))
    count = int(rng.poisson(rate * duration / 60.0))
    weight = np.where(prosody.speaking > 0.5, 1.0, 3.0)
    weight = weight / weight.sum()
    apexes: list[float] = []
    for _ in range(count):
        for _try in range(30):
            t = float(times[rng.choice(n, p=weight)])
            if all(abs(t - a) >= 0.7 for a in apexes):
                apexes.append(t)
                break
    lid = np.zeros(n)
    for apex in apexes:
        dur = float(np.clip(rng.normal(style.blink_dur, 0.03), 0.1, 0.3))
        close, open_ = 0.35 * dur, 0.65 * dur
        x = times - apex
        shape = np.where(
            x < 0,
            0.5 + 0.5 * np.cos(np.pi * np.clip(-x / close, 0, 1)),
            0.5 + 0.5 * np.cos(np.pi * np.clip(x / open_, 0, 1)),
        )
        lid = np.maximum(lid, shape * rng.uniform(0.9, 1.0))
    return lid.astype(np.float32), sorted(apexes)


def brows(times: np.ndarray, prosody: Prosody, style: Style, rng: np.random.Generator) -> np.ndarray:
    """(T,) brow raise 0..1: pulses on pitch accents (rise ~120 ms, decay ~400 ms)."""
    out = np.zeros(len(times))
    for t0, strength in prosody.accents:
        if rng.random() < style.brow_prob:
            out += style.brow_amp * (0.5 + strength) * _bump(times, t0 - 0.08, rng.uniform(0.12, 0.2))
    return np.clip(out, 0, 1).astype(np.float32)


def gaze(times: np.ndarray, prosody: Prosody, style: Style, controls: Controls, rng: np.random.Generator) -> np.ndarray:
    """(T, 2) eye yaw/pitch in degrees: main direction + saccades + glances away in pauses."""
    n = len(times)
    offset = np.zeros((n, 2))
    t, current = 0.0, np.zeros(2)
    while t < times[-1]:
        t += rng.exponential(style.saccade_interval)
        # Fixations wander near the main direction: each saccade pulls back toward it.
        current = 0.5 * current + rng.normal(0, style.saccade_amp, 2) * (1.0, 0.6)
        offset[times >= t] = current
    for start, end in prosody.pauses:
        if end - start > 0.4 and rng.random() < 0.3:
            look = rng.normal(0, 6.0, 2) * (1.0, 0.5)
            inside = (times >= start + 0.05) & (times < end - 0.05)
            offset[inside] += look
    main = np.array([controls.gaze_yaw, controls.gaze_pitch])
    # Fixational drift: a slow, small wander rather than per-frame noise.
    drift = np.stack([_smooth(rng.standard_normal(n), 3) for _ in range(2)], axis=1) * 0.4
    return (main + offset + drift).astype(np.float32)


def emotion_offsets(controls: Controls) -> dict[str, float]:
    """Blendshape offsets of the requested emotion at its intensity."""
    if controls.emotion == "neutral":
        return {}
    return {name: v * controls.intensity for name, v in EMOTION_EFFECTS[controls.emotion]["shapes"].items()}


def jaw_factor(controls: Controls) -> float:
    """How the emotion scales mouth articulation (sad speaks smaller, angry bigger)."""
    if controls.emotion == "neutral":
        return 1.0
    return 1.0 + (EMOTION_EFFECTS[controls.emotion]["jaw"] - 1.0) * controls.intensity
