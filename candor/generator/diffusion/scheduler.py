"""DDIM: a deterministic few-step sampler for an x0-predicting denoiser (interface as in diffusers).

Training noises a clean sample x0 to time t with :meth:`DDIMScheduler.add_noise`; sampling calls
:meth:`set_timesteps` once, then for each ``t`` in ``timesteps`` feeds the model's x0 prediction
to :meth:`step`. With eta = 0 the only randomness is the initial noise, so a seed fixes the output.
"""

from __future__ import annotations

import math

import torch


def cosine_alphas_cumprod(steps: int, s: float = 0.008) -> torch.Tensor:
    """The cosine schedule (Nichol & Dhariwal 2021): fraction of signal variance left at each t."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


class DDIMScheduler:
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, a_t = alphas_cumprod[t], t in [0, train_timesteps)."""

    def __init__(self, train_timesteps: int = 1000) -> None:
        self.train_timesteps = train_timesteps
        self.alphas_cumprod = cosine_alphas_cumprod(train_timesteps)
        self.timesteps = torch.zeros(0, dtype=torch.long)

    def set_timesteps(self, n: int) -> None:
        """Sample with ``n`` model calls: times spread evenly from the noisiest to the cleanest."""
        if not 1 <= n <= self.train_timesteps:
            raise ValueError(f"steps must be within 1-{self.train_timesteps}, got {n}")
        self.timesteps = torch.linspace(self.train_timesteps - 1, 0, n).round().long()

    def _alpha(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod.to(like.device)[torch.as_tensor(t, device=like.device).long()]
        return a.reshape(-1, *([1] * (like.dim() - 1))) if a.dim() else a

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Noise clean samples x0 (B, ...) to per-sample times t (B,)."""
        a = self._alpha(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def previous_timestep(self, t: int) -> int:
        """The time after ``t`` in the current sampling schedule (-1: the clean sample)."""
        idx = (self.timesteps == int(t)).nonzero()
        if len(idx) == 0:
            raise ValueError(f"t={t} is not in the schedule; call set_timesteps first")
        i = int(idx[0, 0])
        return int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else -1

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        """One DDIM update (eta = 0) from x at time t, given the predicted clean sample; returns x_prev."""
        a_t = self._alpha(int(t), x)
        t_prev = self.previous_timestep(t)
        a_prev = self._alpha(t_prev, x) if t_prev >= 0 else torch.ones((), device=x.device)
        eps = (x - a_t.sqrt() * model_output) / (1 - a_t).sqrt()
        return a_prev.sqrt() * model_output + (1 - a_prev).sqrt() * eps
