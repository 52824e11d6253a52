"""Audio -> motion with the trained diffusion transformer, window by window.

A clip is cut into windows of up to ``config.window`` frames. Each window is sampled with a few
DDIM steps, conditioned on its audio, on the last ``config.prev_frames`` generated frames and
their audio (so windows join without jumps), and on the controls. Only those few previous frames
are carried from window to window, so memory does not grow with the clip's length.

Output motion is *relative*: pose around the subject's rest pose (degrees, frame widths, scale
about 1 / distance), blendshapes 0-1 for a neutral face, gaze in degrees. The pipeline adds the
portrait's own pose and expression.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from candor.errors import InvalidAudio, InvalidInput
from candor.generator.audio import (
    FEATURE_DIM,
    FeatureStream,
    audio_features,
    silence_features,
    to_mono_16k,
)
from candor.generator.blink_floor import BlinkFloor
from candor.generator.controls import SAMPLE_RATE, Controls
from candor.generator.diffusion.model import LoadedModel, load_checkpoint
from candor.generator.diffusion.scheduler import DDIMScheduler
from candor.generator.motion import BLENDSHAPE_SLICE, DIM, GAZE_SLICE, LOWER, POSE_SLICE, SCALE, UPPER, MotionSequence

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "motion_dit.pt"
# A clip's last window, when shorter than this, is padded with the silence that follows the clip.
# Windows cut short by a stream are not: padding them with silence told the model the voice was
# about to stop, and it closed the mouth early (live schedule, jawOpen vs log energy: 0.51
# padded, 0.76 unpadded, 0.73 offline; MODEL_CARD.md).
MIN_WINDOW = 8

SCALE_KEEP = 0.3

# How fast (frames) a window's first frame is eased onto the previous window's trajectory:
# slow fields (head pose, gaze) ease over longer spans than fast ones (mouth, lids); 0: not eased.
JOIN_TAU = np.ones(DIM, np.float32)
JOIN_TAU[POSE_SLICE] = 8.0
JOIN_TAU[BLENDSHAPE_SLICE] = 3.0
JOIN_TAU[GAZE_SLICE] = 6.0


@dataclass
class SamplingSettings:
    """steps: DDIM model calls per window; cfg_audio / cfg_control: guidance scales (1 = none)."""

    steps: int = 8
    cfg_audio: float = 1.0
    cfg_control: float = 1.0


class MotionGenerator:
    """Holds the denoiser and its scheduler; turns audio (whole or streamed) into motion."""

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu") -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.config = loaded.config
        self.device = torch.device(device)
        self.scheduler = DDIMScheduler(self.config.train_timesteps)
        self.defaults = SamplingSettings(**loaded.metrics.get("sampling", {}))
        # Add a blink where the model has gone too long without one (``blink_floor``); off only
        # to measure the model by itself.
        self.blink_floor = True

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu") -> MotionGenerator:
        """Load a checkpoint (default: the one shipped in the package); offline, no downloads."""
        return cls(load_checkpoint(path or DEFAULT_CHECKPOINT, device), device)

    @property
    def fps(self) -> float:
        return float(self.config.fps)

    # ---------------------------------------------------------------------------------------
    # Whole clips
    # ---------------------------------------------------------------------------------------

    def features(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Waveform (any rate, mono or (frames, channels)) or ready (T, FEATURE_DIM) features."""
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 2 and a.shape[1] == FEATURE_DIM:
            return a
        samples = to_mono_16k(a, sr)
        if samples.size == 0:
            raise InvalidAudio("audio contains no samples")
        return audio_features(samples, fps=self.fps)

    def generate(
        self,
        audio: np.ndarray,
        controls: Controls | None = None,
        *,
        seed: int = 0,
        sr: int = SAMPLE_RATE,
        cfg_audio: float | None = None,
        cfg_control: float | None = None,
        steps: int | None = None,
        fps: float | None = None,
    ) -> MotionSequence:
        """Motion for a whole clip: ``audio`` is a waveform at ``sr`` or (T, FEATURE_DIM) features.

        Returns relative motion at ``fps`` (default: the model's 25 fps), one frame per
        1/fps second of audio. The same seed gives the same motion.
        """
        sampling = self.sampling(cfg_audio, cfg_control, steps)
        feats = self.features(audio, sr)
        frames = np.concatenate(list(self.iter_windows(feats, controls, seed, sampling)))
        seq = MotionSequence(frames, self.fps)
        return seq if fps is None or fps == self.fps else resample(seq, fps)

    def iter_windows(
        self,
        feats: np.ndarray,
        controls: Controls | None = None,
        seed: int = 0,
        sampling: SamplingSettings | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield (n, DIM) relative motion per window of ``feats`` (T, FEATURE_DIM), in order
        (``sampling``: see :meth:`sampling`; the model's defaults when None)."""
        state = _StreamState(self, controls, seed, sampling or self.defaults)
        W = self.config.window
        for start in range(0, len(feats), W):
            yield state.next_window(feats[start : start + W], clip_ends=start + W >= len(feats))

    # ---------------------------------------------------------------------------------------
    # Streaming
    # ---------------------------------------------------------------------------------------

    def stream(
        self,
        audio_chunks: Iterable[np.ndarray],
        sr: int = SAMPLE_RATE,
        controls: Controls | None = None,
        seed: int = 0,
        *,
        cfg_audio: float | None = None,
        cfg_control: float | None = None,
        steps: int | None = None,
        min_window: int = MIN_WINDOW,
    ) -> Iterator[np.ndarray]:
        """Audio chunks in (mono or (frames, channels) at ``sr``), motion frames (DIM,) out at 25 fps.

        A window is generated as soon as ``min_window`` frames of audio (320 ms at the default)
        are complete, using every complete frame up to the model's window, so frames come out
        about as fast as the audio arrives. Features use running normalization statistics.
        """
        if min_window < 1:
            raise InvalidInput("min_window must be at least 1")
        state = _StreamState(self, controls, seed, self.sampling(cfg_audio, cfg_control, steps))
        features = FeatureStream(self.fps)
        pending = np.zeros((0, FEATURE_DIM), np.float32)
        W = self.config.window
        for chunk in audio_chunks:
            pending = np.concatenate([pending, features.push(to_mono_16k(chunk, sr))])
            while len(pending) >= min_window:
                take = min(len(pending), W)
                yield from state.next_window(pending[:take], clip_ends=False)
                pending = pending[take:]
        if features.samples_seen == 0:
            raise InvalidAudio("the audio stream contained no samples")
        pending = np.concatenate([pending, features.push(np.zeros(0, np.float32), final=True)])
        for start in range(0, len(pending), W):
            yield from state.next_window(pending[start : start + W], clip_ends=start + W >= len(pending))

    # ---------------------------------------------------------------------------------------

    def sampling(self, cfg_audio: float | None, cfg_control: float | None, steps: int | None) -> SamplingSettings:
        """The sampling settings asked for, the model's defaults where None; InvalidInput when out of range."""
        s = SamplingSettings(
            steps=steps if steps is not None else self.defaults.steps,
            cfg_audio=cfg_audio if cfg_audio is not None else self.defaults.cfg_audio,
            cfg_control=cfg_control if cfg_control is not None else self.defaults.cfg_control,
        )
        if not 1 <= s.steps <= 100:
            raise InvalidInput(f"steps must be within 1-100, got {s.steps}")
        if not (0 <= s.cfg_audio <= 10 and 0 <= s.cfg_control <= 10):
            raise InvalidInput("guidance scales must be within 0-10")
        return s

    @torch.inference_mode()
    def sample_window(
        self,
        audio: np.ndarray,
        prev_motion: np.ndarray,
        prev_audio: np.ndarray,
        controls: np.ndarray,
        noise: torch.Tensor,
        settings: SamplingSettings,
    ) -> np.ndarray:
        """Denoise one window. audio: (L, A); prev_motion: (k, D) normalized, k <= K (0: first
        window); prev_audio: (K, A); controls: (C,); noise: (L, D). Returns (L, D) normalized."""
        K, dev = self.config.prev_frames, self.device
        prev = np.zeros((K, DIM), np.float32)
        keep_prev = np.zeros(K, bool)
        if len(prev_motion):
            prev[K - len(prev_motion) :] = prev_motion
            keep_prev[K - len(prev_motion) :] = True
        # Guidance needs the unconditional and audio-only predictions only when a scale is not 1.
        passes = [(True, True)]
        if settings.cfg_control != 1.0:
            passes.append((True, False))
        if settings.cfg_audio != 1.0:
            passes.append((False, False))
        n = len(passes)
        a = torch.from_numpy(audio).to(dev)[None].expand(n, -1, -1)
        pa = torch.from_numpy(prev_audio).to(dev)[None].expand(n, -1, -1)
        pm = torch.from_numpy(prev).to(dev)[None].expand(n, -1, -1)
        kp = torch.from_numpy(keep_prev).to(dev)[None].expand(n, -1)
        c = torch.from_numpy(controls).to(dev)[None].expand(n, -1)
        keep_audio = torch.tensor([p[0] for p in passes], device=dev)
        keep_control = torch.tensor([p[1] for p in passes], device=dev)
        self.scheduler.set_timesteps(settings.steps)
        x = noise.to(dev)[None]
        # The audio, previous frames and controls are the same at every step: embed them once.
        cond = self.model.condition(a, pm, pa, c, keep_audio, keep_control, kp, length=x.shape[1])
        for t in self.scheduler.timesteps:
            tt = torch.full((n,), int(t), device=dev, dtype=torch.long)
            out = self.model.denoise(x.expand(n, -1, -1), tt, cond)
            x0 = out[0]
            if settings.cfg_control != 1.0:
                x0 = out[1] + settings.cfg_control * (out[0] - out[1])
                if settings.cfg_audio != 1.0:
                    x0 = x0 + (settings.cfg_audio - 1.0) * smooth_guidance(out[1] - out[2])
            elif settings.cfg_audio != 1.0:
                x0 = out[0] + (settings.cfg_audio - 1.0) * smooth_guidance(out[0] - out[1])
            x = self.scheduler.step(x0[None], int(t), x)
        return x[0].cpu().numpy()

    def normalize(self, motion: np.ndarray) -> np.ndarray:
        mean, std = self.loaded.motion_mean.cpu().numpy(), self.loaded.motion_std.cpu().numpy()
        return ((motion - mean) / std).astype(np.float32)

    def denormalize(self, motion: np.ndarray) -> np.ndarray:
        mean, std = self.loaded.motion_mean.cpu().numpy(), self.loaded.motion_std.cpu().numpy()
        return np.clip(motion * std + mean, LOWER, UPPER).astype(np.float32)


class _StreamState:
    """What one clip carries between windows: the last K frames and their audio, and the noise."""

    def __init__(
        self,
        gen: MotionGenerator,
        controls: Controls | None,
        seed: int,
        settings: SamplingSettings,
        join_tau: np.ndarray = JOIN_TAU,
    ) -> None:
        self.gen = gen
        self.settings = settings
        self.join_tau = join_tau
        self.controls = (controls or Controls()).to_vector()
        self.scale_target = 1.0 / (controls or Controls()).distance
        self.rng = torch.Generator().manual_seed(int(seed))
        K = gen.config.prev_frames
        self.prev_motion = np.zeros((0, DIM), np.float32)
        self.prev_audio = silence_features(K)  # before the clip starts there is silence
        self.last = np.zeros((0, DIM), np.float32)  # the last two emitted frames (raw units)
        self.blinks = BlinkFloor(gen.fps, seed) if gen.blink_floor else None

    def set_controls(self, controls: Controls) -> None:
        """New controls for the windows to come (the join eases the change in)."""
        self.controls = controls.to_vector()
        self.scale_target = 1.0 / controls.distance

    def next_window(self, feats: np.ndarray, keep: int | None = None, *, clip_ends: bool) -> np.ndarray:
        """(n, A) features -> (keep, DIM) relative motion; n may be anything from 1 to the window.
        ``keep`` (default n): how many leading frames to emit; the rest is look-ahead, sampled so
        the kept frames see the audio that follows them, then dropped. ``clip_ends``: the clip ends
        with these frames (silence follows), else more audio is still to come."""
        n = len(feats) if keep is None else keep
        K = self.gen.config.prev_frames
        if clip_ends and len(feats) < MIN_WINDOW:  # pad with the silence that follows the clip
            feats = np.concatenate([feats, silence_features(MIN_WINDOW - len(feats))])
        noise = torch.randn(len(feats), DIM, generator=self.rng)
        x = self.gen.sample_window(feats, self.prev_motion, self.prev_audio, self.controls, noise, self.settings)
        x = x[:n]
        out = self.gen.denormalize(x)
        # Head distance is a control: the model's scale wanders about 5x more within a clip than the
        # corpus's (std 0.029 vs 0.006), so keep 30% of its deviation from the requested 1/distance.
        out[:, SCALE] = self.scale_target + SCALE_KEEP * (out[:, SCALE] - self.scale_target)
        if len(self.last) == 2:
            out = ease_join(self.last, out, self.join_tau)
        if self.blinks is not None:
            out = self.blinks(out)
        self.last = np.concatenate([self.last, out])[-2:]
        # The next window is conditioned on exactly what was emitted.
        self.prev_motion = np.concatenate([self.prev_motion, self.gen.normalize(out)])[-K:]
        self.prev_audio = np.concatenate([self.prev_audio, feats[:n]])[-K:]
        return out


# Audio guidance amplifies the difference between the audio-conditioned and unconditioned
# predictions; for head pose and gaze that difference carries frame-to-frame noise as well as the
# nods, and amplifying the noise made the head tremble (pose jitter 5x the corpus's at cfg 2.5).
# Smoothing the guidance direction of those fields over a Gaussian of 2 frames keeps the nods and
# halves the jitter (held-out set: jitter 0.45 -> 0.22 deg, delta-P 0.43 -> 0.27 deg, corpus 0.08 /
# 0.18; head range 5.1 -> 4.4 deg; lip sync unchanged, the mouth fields are left alone).
GUIDANCE_SMOOTH_SIGMA = 2.0  # frames
_SMOOTH_RADIUS = int(3 * GUIDANCE_SMOOTH_SIGMA)
_SMOOTH_KERNEL = np.exp(-0.5 * (np.arange(-_SMOOTH_RADIUS, _SMOOTH_RADIUS + 1) / GUIDANCE_SMOOTH_SIGMA) ** 2)
_SMOOTH_KERNEL = torch.from_numpy((_SMOOTH_KERNEL / _SMOOTH_KERNEL.sum()).astype(np.float32))[None, None]
_SMOOTH_FIELDS = list(range(POSE_SLICE.start, POSE_SLICE.stop)) + list(range(GAZE_SLICE.start, GAZE_SLICE.stop))


def smooth_guidance(delta: torch.Tensor) -> torch.Tensor:
    """(L, D) guidance direction -> the same with the head pose and gaze fields low-passed in time."""
    x = delta[:, _SMOOTH_FIELDS].T[:, None]  # (fields, 1, L)
    x = torch.nn.functional.pad(x, (_SMOOTH_RADIUS, _SMOOTH_RADIUS), mode="replicate")
    out = delta.clone()
    kernel = _SMOOTH_KERNEL.to(device=delta.device, dtype=delta.dtype)
    out[:, _SMOOTH_FIELDS] = torch.nn.functional.conv1d(x, kernel).squeeze(1).T
    return out


def ease_join(last: np.ndarray, window: np.ndarray, tau: np.ndarray = JOIN_TAU) -> np.ndarray:
    """Ease a new window onto the trajectory of the two frames before it.

    The first frame's deviation from the previous frames' linear continuation fades out over
    ``tau`` frames per field (0: the field is left alone), so a window boundary never steps
    further than the motion inside a window does; later frames are the model's own.
    """
    expected = last[-1] + 0.5 * (last[-1] - last[-2])  # damped linear continuation
    offset = window[0] - expected
    frames = np.arange(len(window), dtype=np.float32)[:, None]
    eased = tau > 0
    fade = np.exp(-frames / np.where(eased, tau, 1.0)[None]) * eased[None]
    # Keep a share of the first step so a real onset (a blink, a syllable) is not erased.
    return np.clip(window - 0.8 * offset[None] * fade, LOWER, UPPER).astype(np.float32)


def resample(seq: MotionSequence, fps: float) -> MotionSequence:
    """Linear interpolation of a motion sequence to another frame rate (same duration)."""
    n = max(1, round(len(seq) * fps / seq.fps))
    t_new = (np.arange(n) + 0.5) / fps
    t_old = (np.arange(len(seq)) + 0.5) / seq.fps
    cols = [np.interp(t_new, t_old, seq.values[:, j]) for j in range(DIM)]
    return MotionSequence(np.stack(cols, axis=1).astype(np.float32), fps)
