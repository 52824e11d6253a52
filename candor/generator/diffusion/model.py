"""MotionDiT: a transformer that denoises a window of motion frames, conditioned on audio.

Token sequence (one token per video frame)::

    [ K previous-window frames | L current frames ]      L <= config.window
      motion_prev + audio_prev    noisy motion + audio

Every block is modulated (adaLN-Zero, as in DiT) by one vector: the diffusion time plus the
control embedding (gaze, distance, emotion). The head predicts the clean window x0.

Classifier-free guidance: three conditions can be switched off per sample, each replaced by a
learned "null" embedding: the audio (current and previous window), the controls, and the
previous motion (off for the very first window of a clip).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from candor.errors import InvalidInput
from candor.generator.diffusion.config import MotionDiTConfig


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer diffusion times t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    # x: (B, N, d); shift, scale: (B, d)
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    """Pre-norm transformer block whose norms are shifted/scaled/gated by the condition."""

    def __init__(self, cfg: MotionDiTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.ada = nn.Linear(d, 6 * d)
        self.dropout = cfg.dropout
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, N, d) tokens; c: (B, d) condition
        B, N, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=-1)
        q, k, v = self.qkv(modulate(self.norm1(x), sh1, sc1)).split(d, dim=-1)
        q, k, v = (z.view(B, N, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        drop = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        x = x + g1[:, None] * self.proj(att.transpose(1, 2).reshape(B, N, d))
        return x + g2[:, None] * self.mlp(modulate(self.norm2(x), sh2, sc2))


class MotionDiT(nn.Module):
    """Denoiser: noisy motion window + audio + previous window + controls -> predicted clean window."""

    def __init__(self, cfg: MotionDiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        # A short temporal convolution gives each audio token +-2 frames (80 ms) of context before
        # attention: coarticulation makes the mouth depend on neighbouring sounds.
        self.audio_in = nn.Conv1d(cfg.audio_dim, d, kernel_size=5, padding=2)
        self.motion_in = nn.Linear(cfg.motion_dim, d)
        self.prev_in = nn.Linear(cfg.motion_dim, d)
        self.pos = nn.Parameter(torch.randn(cfg.prev_frames + cfg.window, d) * 0.02)
        self.is_prev = nn.Parameter(torch.randn(d) * 0.02)
        self.null_audio = nn.Parameter(torch.randn(d) * 0.02)
        self.null_prev = nn.Parameter(torch.randn(d) * 0.02)
        self.null_control = nn.Parameter(torch.zeros(d))
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.control_mlp = nn.Sequential(nn.Linear(cfg.control_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.head = nn.Linear(d, cfg.motion_dim)
        for m in (self.ada_out, self.head):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        audio: torch.Tensor,
        prev_motion: torch.Tensor,
        prev_audio: torch.Tensor,
        controls: torch.Tensor,
        keep_audio: torch.Tensor | None = None,
        keep_control: torch.Tensor | None = None,
        keep_prev: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean window.

        x: (B, L, D) noisy normalized motion, L <= window; t: (B,) integer diffusion times;
        audio: (B, L, A) features of the window; prev_motion: (B, K, D) normalized last frames of
        the previous window; prev_audio: (B, K, A); controls: (B, C);
        keep_audio, keep_control: (B,) bool, False replaces that condition by its null embedding;
        keep_prev: (B,) or (B, K) bool, per sample or per previous frame (a clip's first window,
        or a previous window shorter than K, has missing frames). Returns (B, L, D).
        """
        return self.denoise(x, t, self.condition(audio, prev_motion, prev_audio, controls, keep_audio,
                                                  keep_control, keep_prev, length=x.shape[1]))  # fmt: skip

    def condition(
        self,
        audio: torch.Tensor,
        prev_motion: torch.Tensor,
        prev_audio: torch.Tensor,
        controls: torch.Tensor,
        keep_audio: torch.Tensor | None = None,
        keep_control: torch.Tensor | None = None,
        keep_prev: torch.Tensor | None = None,
        *,
        length: int,
    ) -> Condition:
        """What stays fixed while one window is denoised (arguments as :meth:`forward`; ``length``:
        L, the window's frames), computed once per window instead of once per sampling step."""
        B, K = audio.shape[0], prev_motion.shape[1]
        ones = torch.ones(B, dtype=torch.bool, device=audio.device)
        keep_audio = ones if keep_audio is None else keep_audio
        keep_control = ones if keep_control is None else keep_control
        keep_prev = ones if keep_prev is None else keep_prev

        a = self.audio_in(torch.cat([prev_audio, audio], dim=1).transpose(1, 2)).transpose(1, 2)
        a = torch.where(keep_audio[:, None, None], a, self.null_audio)  # (B, K+L, d)
        keep_prev = keep_prev[:, None].expand(B, K) if keep_prev.dim() == 1 else keep_prev
        prev = torch.where(keep_prev[:, :, None], self.prev_in(prev_motion), self.null_prev)
        # Current frames always sit at positions K_max.., so fewer previous frames still line up.
        Kmax = self.cfg.prev_frames
        base = a + self.pos[Kmax - K : Kmax + length]  # (B, K+L, d): audio + position of every token
        ctrl = torch.where(keep_control[:, None], self.control_mlp(controls), self.null_control)
        return Condition(prev_tokens=prev + self.is_prev + base[:, :K], tokens=base[:, K:], control=ctrl)

    def denoise(self, x: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """One sampling step's prediction: x (B, L, D) noisy window, t (B,) -> (B, L, D) clean window."""
        K = cond.prev_tokens.shape[1]
        tokens = torch.cat([cond.prev_tokens, self.motion_in(x) + cond.tokens], dim=1)
        c = self.time_mlp(timestep_embedding(t, self.cfg.d_model)) + cond.control  # (B, d)
        for block in self.blocks:
            tokens = block(tokens, c)
        shift, scale = self.ada_out(F.silu(c)).chunk(2, dim=-1)
        return self.head(modulate(self.norm_out(tokens[:, K:]), shift, scale))


@dataclass
class Condition:
    """A window's conditioning (see :meth:`MotionDiT.condition`): the previous frames' tokens
    (B, K, d), the current frames' audio + position (B, L, d) and the control embedding (B, d)."""

    prev_tokens: torch.Tensor
    tokens: torch.Tensor
    control: torch.Tensor


@dataclass
class LoadedModel:
    """A denoiser ready for inference plus what it needs to (de)normalize motion."""

    model: MotionDiT
    config: MotionDiTConfig
    motion_mean: torch.Tensor  # (D,) raw motion units (degrees, frame widths, 0-1)
    motion_std: torch.Tensor  # (D,)
    step: int
    metrics: dict


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict: config, model (state dict), norm, step, metrics (+ training state)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"motion checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise InvalidInput(f"{path.name} is not a readable motion checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or not {"config", "model", "norm"} <= ckpt.keys():
        raise InvalidInput(f"{path.name} is not a motion checkpoint (needs config, model, norm)")
    return ckpt


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the model from a checkpoint, in eval mode on ``device``."""
    ckpt = read_checkpoint(path)
    cfg = MotionDiTConfig(**ckpt["config"])
    model = MotionDiT(cfg)
    model.load_state_dict({k: v.float() for k, v in ckpt["model"].items()})
    model.to(device).eval()
    return LoadedModel(
        model=model,
        config=cfg,
        motion_mean=ckpt["norm"]["motion_mean"].float().to(device),
        motion_std=ckpt["norm"]["motion_std"].float().to(device),
        step=int(ckpt.get("step", 0)),
        metrics=dict(ckpt.get("metrics", {})),
    )
