"""Sizes and training settings of the motion diffusion transformer."""

from __future__ import annotations

from dataclasses import dataclass

from candor.generator.audio import FEATURE_DIM
from candor.generator.controls import CONTROL_DIM
from candor.generator.motion import DIM


@dataclass
class MotionDiTConfig:
    """Everything that fixes the model's shape; saved in every checkpoint as a dict."""

    motion_dim: int = DIM  # one frame of the motion latent (candor.generator.motion.LAYOUT)
    audio_dim: int = FEATURE_DIM  # one frame of audio features (candor.generator.audio)
    control_dim: int = CONTROL_DIM  # gaze, distance, emotion (candor.generator.controls)
    window: int = 50  # W: frames denoised together (2 s at 25 fps)
    prev_frames: int = 10  # K: frames of the previous window the model sees
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 3.0
    dropout: float = 0.0
    train_timesteps: int = 1000  # the discrete diffusion time of the noise schedule
    fps: float = 25.0
