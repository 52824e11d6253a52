"""Train the motion diffusion transformer on a motion corpus (see notes in ``candor corpus``).

Reads top to bottom: settings, data (corpus windows and normalization), model, optimizer, loop
(with held-out validation and checkpoints), export. One process uses CUDA when available and the
CPU otherwise; under ``torchrun --nproc_per_node=N -m candor.cli train motion --corpus DIR``
each process trains on its own random windows and gradients are averaged (DDP).

(Over 400 lines on purpose: like nanoGPT's train.py it reads top to bottom as one script, with the
augmentation and the data loader beside the loop they feed.)
"""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from candor.errors import InvalidInput
from candor.files import atomic_output
from candor.generator import motion as M
from candor.generator.audio import BASE_DIM, FEATURE_DIM, N_MELS, audio_features, silence_features
from candor.generator.controls import CONTROL_DIM
from candor.generator.diffusion.config import MotionDiTConfig
from candor.generator.diffusion.model import MotionDiT, read_checkpoint
from candor.generator.diffusion.scheduler import DDIMScheduler
from candor.generator.motion import DIM

# --------------------------------------------------------------------------------------------
# 1. Settings
# --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    corpus: Path
    out: Path = Path("out/motion")
    steps: int = 6000
    max_minutes: float | None = None  # stop (and save) after this much training time (resumes included)
    batch_size: int = 64
    lr: float = 4e-4
    warmup: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    velocity_weight: float = 1.0  # weight of the frame-to-frame difference loss (smoothness)
    p_drop_audio: float = 0.1  # classifier-free guidance: condition dropout probabilities
    p_drop_control: float = 0.1
    p_drop_prev: float = 0.15
    prev_noise: float = 0.05  # noise on the previous frames (normalized units): robust to own errors
    min_window: int = 4  # shortest training window: streaming may sample windows this short
    augment: float = 0.5  # share of training windows whose audio features are perturbed (FeatureAugment)
    mouth_weight: float = 2.0  # loss weight of the lip-sync fields (MOUTH_FIELDS) relative to the others
    # Share of training windows whose audio features come from a telephone-channel copy of the
    # utterance (8 kHz band, noise, gain): real voices arrive band-limited (the asterisk prompts).
    telephone: float = 0.0
    extra_corpora: tuple[Path, ...] = ()  # more corpora trained on together (e.g. `candor corpus real`)
    init: Path | None = None  # start from this checkpoint's weights and motion normalization (fine-tune)
    val_every: int = 250
    ckpt_every: int = 250
    threads: int = 1  # CPU: on a shared machine one thread beat two by 2.6x (no spin-waiting)
    seed: int = 0
    resume: bool = False
    model: MotionDiTConfig = field(default_factory=MotionDiTConfig)


# --------------------------------------------------------------------------------------------
# 2. Data: utterances -> one long array per split, sampled as random windows
# --------------------------------------------------------------------------------------------


@dataclass
class Split:
    """All utterances of a split, concatenated: motion (N, D) raw, audio (N, A) features."""

    motion: np.ndarray
    audio: np.ndarray
    controls: np.ndarray  # (U, C) one row per utterance
    starts: np.ndarray  # (U,) first row of each utterance
    lengths: np.ndarray  # (U,)
    ids: list[str]
    audio_tel: np.ndarray | None = None  # (N, A) features of the telephone-channel copies, if made


def read_manifest(corpus: Path) -> list[dict]:
    """The manifest's utterances whose file exists (the builder may still be appending)."""
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise InvalidInput(f"{corpus} is not a motion corpus (no manifest.jsonl)")
    rows = []
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if (corpus / row["file"]).is_file():
            rows.append(row)
    return rows


def read_corpora(corpus: Path, extra: tuple[Path, ...] = ()) -> list[dict]:
    """Rows of several corpora; rows of an extra corpus carry their folder and a prefixed cache key."""
    rows = read_manifest(corpus)
    for path in extra:
        rows += [{**row, "_corpus": str(path), "_key": f"{Path(path).name}/{row['id']}"} for row in read_manifest(path)]
    return rows


def telephone_channel(audio: np.ndarray, seed: int) -> np.ndarray:
    """A telephone-channel copy of 16 kHz audio: band-limited to 4 kHz (down to 8 kHz and back),
    noise at 25-45 dB under the speech's loud level, and a gain of -20..+6 dB (all seeded)."""
    from scipy.signal import resample_poly

    rng = np.random.default_rng(seed)
    band = resample_poly(resample_poly(audio, 1, 2), 2, 1)[: len(audio)].astype(np.float32)
    loud = float(np.percentile(np.abs(band), 99)) or 1e-3
    noise = rng.normal(0, loud * 10 ** (-rng.uniform(25, 45) / 20), len(band)).astype(np.float32)
    return ((band + noise) * 10 ** (rng.uniform(-20, 6) / 20)).astype(np.float32)


def load_utterance(
    corpus: Path, row: dict, cache: dict[str, np.ndarray] | None = None, telephone: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(motion (T, D), audio features (T, A), controls (C,), telephone features (T, A) or None).

    ``cache`` maps utterance keys to features already computed (filled in as a side effect).
    """
    key = row.get("_key", row["id"])
    fps = float(row.get("fps", 25))
    with np.load(Path(row.get("_corpus", corpus)) / row["file"], allow_pickle=False) as z:
        motion = z["motion"].astype(np.float32)
        controls = z["controls"].astype(np.float32)
        feats = cache.get(key) if cache is not None else None
        tel = cache.get(key + "@tel") if cache is not None and telephone else None
        if feats is None or (telephone and tel is None):
            audio = z["audio"].astype(np.float32) / 32768.0
            if feats is None:
                feats = audio_features(audio, fps=fps)
            if telephone and tel is None:
                tel = audio_features(telephone_channel(audio, zlib.crc32(key.encode())), fps=fps)
            if cache is not None:
                cache[key] = feats
                if tel is not None:
                    cache[key + "@tel"] = tel
    T = min(len(feats), len(motion))
    return motion[:T], feats[:T], controls, None if tel is None else tel[:T]


def load_split(
    corpus: Path, rows: list[dict], min_frames: int, cache: dict | None = None, telephone: bool = False
) -> Split:
    motion, audio, controls, lengths, ids, tel = [], [], [], [], [], []
    for row in rows:
        m, a, c, t = load_utterance(corpus, row, cache, telephone)
        if len(m) < min_frames:
            continue
        motion.append(m)
        audio.append(a)
        controls.append(c)
        lengths.append(len(m))
        ids.append(row["id"])
        tel.append(t)
    if not motion:
        raise InvalidInput(f"no usable utterances of at least {min_frames} frames in {corpus}")
    lengths_arr = np.array(lengths)
    return Split(
        motion=np.concatenate(motion),
        audio=np.concatenate(audio),
        controls=np.stack(controls),
        starts=np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]),
        lengths=lengths_arr,
        ids=ids,
        audio_tel=np.concatenate(tel) if telephone else None,
    )


MEL = slice(0, N_MELS)  # log-mel bands in a feature frame, and their deltas
MEL_DELTA = slice(BASE_DIM, BASE_DIM + N_MELS)
ENERGY, PITCH = N_MELS, N_MELS + 1


class FeatureAugment:
    """Voice and channel perturbations of audio features, so held-out voices and engines look familiar.

    All held-out error came from unseen voices (an unseen engine most), so each perturbed window
    gets, drawn once for the window and its previous frames: a vocal-tract-length warp of the mel
    axis (factor 0.85-1.18, as VTLP does for speech recognition), one or two masked bands
    (SpecAugment; 0 is a band's utterance mean), a wider or narrower intonation (pitch x 0.6-1.5),
    a dynamic-range change (energy x 0.8-1.25) and a little noise.
    """

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.bins = np.arange(N_MELS, dtype=np.float64)
        self.floor = silence_features(1)[0]

    def __call__(self, rng: np.random.Generator, feats: np.ndarray) -> np.ndarray:
        """(B, T, FEATURE_DIM) -> perturbed copy (rows left alone with probability 1 - p)."""
        out = feats.copy()
        floor = self.floor
        for b in np.flatnonzero(rng.random(len(out)) < self.probability):
            x = out[b]
            quiet = np.all(np.isclose(x, floor), axis=1)  # silence stays exactly silence
            src = np.clip(self.bins * np.exp(rng.uniform(np.log(0.85), np.log(1.18))), 0, N_MELS - 1)
            lo = np.floor(src).astype(np.int64)
            hi = np.minimum(lo + 1, N_MELS - 1)
            frac = (src - lo).astype(np.float32)
            for part in (MEL, MEL_DELTA):
                bands = x[:, part]
                x[:, part] = bands[:, lo] * (1 - frac) + bands[:, hi] * frac
            for _ in range(rng.integers(1, 3)):
                width, start = rng.integers(1, 6), rng.integers(0, N_MELS)
                x[:, start : start + width] = 0.0
                x[:, BASE_DIM + start : BASE_DIM + min(start + width, N_MELS)] = 0.0
            x[:, [PITCH, BASE_DIM + PITCH]] *= rng.uniform(0.6, 1.5)
            x[:, [ENERGY, BASE_DIM + ENERGY]] *= rng.uniform(0.8, 1.25)
            x += rng.normal(0.0, 0.05, x.shape).astype(np.float32)
            x[quiet] = floor
        return out


class WindowSampler:
    """Random training windows: a window of L frames and the up-to-K frames before it."""

    def __init__(
        self,
        split: Split,
        mean: np.ndarray,
        std: np.ndarray,
        cfg: MotionDiTConfig,
        augment: float = 0.0,
        telephone: float = 0.0,
    ) -> None:
        self.split = split
        self.motion = (split.motion - mean) / std
        self.cfg = cfg
        self.silence = silence_features(1)[0]
        self.augment = FeatureAugment(augment) if augment > 0 else None
        self.telephone = telephone if split.audio_tel is not None else 0.0

    def sample(self, rng: np.random.Generator, batch: int, length: int) -> dict[str, torch.Tensor]:
        s, K = self.split, self.cfg.prev_frames
        ok = np.flatnonzero(s.lengths >= length)
        weights = (s.lengths[ok] - length + 1).astype(np.float64)
        utt = ok[rng.choice(len(ok), size=batch, p=weights / weights.sum())]
        # Starting at 0 a fifth of the time trains the "first window of a clip" case on purpose.
        offset = rng.integers(0, s.lengths[utt] - length + 1)
        offset = np.where(rng.random(batch) < 0.2, 0, offset)
        rows = s.starts[utt] + offset
        cur = rows[:, None] + np.arange(length)[None]
        prev_off = offset[:, None] + np.arange(-K, 0)[None]
        prev_valid = prev_off >= 0
        prev_rows = s.starts[utt][:, None] + np.maximum(prev_off, 0)
        if self.telephone > 0:  # per window: the clean or the telephone-channel features
            tel = (rng.random(batch) < self.telephone)[:, None, None]
            prev_audio = np.where(tel, s.audio_tel[prev_rows], s.audio[prev_rows])
            audio = np.where(tel, s.audio_tel[cur], s.audio[cur])
        else:
            prev_audio, audio = s.audio[prev_rows], s.audio[cur]
        prev_audio = np.where(prev_valid[..., None], prev_audio, self.silence).astype(np.float32)
        if self.augment is not None:  # one perturbation across the previous frames and the window
            both = self.augment(rng, np.concatenate([prev_audio, audio], axis=1))
            prev_audio, audio = both[:, :K], both[:, K:]
        return {
            "x0": torch.from_numpy(self.motion[cur]),
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "prev_motion": torch.from_numpy(np.where(prev_valid[..., None], self.motion[prev_rows], 0)),
            "prev_audio": torch.from_numpy(np.ascontiguousarray(prev_audio)),
            "prev_valid": torch.from_numpy(prev_valid),
            "controls": torch.from_numpy(s.controls[utt]),
        }


def motion_stats(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Per-field mean and std of the training motion; tiny stds are floored (unused fields)."""
    mean = split.motion.mean(axis=0)
    std = np.maximum(split.motion.std(axis=0), 1e-3)
    return mean.astype(np.float32), std.astype(np.float32)


# --------------------------------------------------------------------------------------------
# 3. Loss: one denoising step on a batch, with condition dropout
# --------------------------------------------------------------------------------------------


def diffusion_loss(
    model: torch.nn.Module,
    scheduler: DDIMScheduler,
    batch: dict[str, torch.Tensor],
    cfg: TrainConfig,
    gen: torch.Generator,
    train: bool = True,
) -> torch.Tensor:
    """x0-prediction MSE plus a velocity term, averaged over the batch."""
    x0 = batch["x0"]
    B, dev = x0.shape[0], x0.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=dev)

    t = torch.randint(0, scheduler.train_timesteps, (B,), generator=gen, device=dev)
    noise = torch.randn(x0.shape, generator=gen, device=dev)
    xt = scheduler.add_noise(x0, noise, t)
    prev = batch["prev_motion"]
    keep_prev = batch["prev_valid"]
    if train:
        prev = prev + cfg.prev_noise * torch.randn(prev.shape, generator=gen, device=dev) * (rand(B, 1, 1) < 0.5)
        keep_prev = keep_prev & (rand(B, 1) >= cfg.p_drop_prev)
        keep_audio = rand(B) >= cfg.p_drop_audio
        keep_control = rand(B) >= cfg.p_drop_control
    else:
        keep_audio = keep_control = torch.ones(B, dtype=torch.bool, device=dev)
    pred = model(
        xt, t, batch["audio"], prev, batch["prev_audio"], batch["controls"], keep_audio, keep_control, keep_prev
    )
    w = field_weights(cfg).to(dev)
    loss = ((pred - x0) ** 2 * w).mean()
    if cfg.velocity_weight:
        loss = loss + cfg.velocity_weight * ((pred.diff(dim=1) - x0.diff(dim=1)) ** 2 * w).mean()
    return loss


MOUTH_FIELDS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker")


def field_weights(cfg: TrainConfig) -> torch.Tensor:
    """Per-field loss weights (mean 1): the lip-sync fields get ``mouth_weight`` times the others."""
    w = torch.ones(DIM)
    w[[M.index(name) for name in MOUTH_FIELDS]] = cfg.mouth_weight
    return w * (DIM / w.sum())


# --------------------------------------------------------------------------------------------
# 4. The run: data, model, optimizer, loop, checkpoints, export
# --------------------------------------------------------------------------------------------


def _lr_at(step: int, elapsed_s: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% over whichever budget (steps or minutes) ends first."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.max_minutes:
        progress = max(progress, elapsed_s / (60 * cfg.max_minutes))
    progress = min(1.0, progress)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _save(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-save never leaves a broken checkpoint."""
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def train(cfg: TrainConfig, on_step: Callable[[int, int, dict], None] | None = None) -> Path:
    """Train; returns the exported inference checkpoint (``OUT/motion_dit.pt``).

    ``on_step(step, total, info)`` is called after every step (the CLI draws a progress bar).
    """
    # -- distributed set-up (torchrun sets WORLD_SIZE/RANK/LOCAL_RANK) --
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(cfg.threads)
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    cfg.out.mkdir(parents=True, exist_ok=True)
    last_path = cfg.out / "last.pt"

    # -- data --
    rows = read_corpora(cfg.corpus, tuple(cfg.extra_corpora))
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    if not train_rows or not val_rows:
        raise InvalidInput(f"{cfg.corpus} needs utterances in both the train and the val split")
    mcfg = cfg.model
    # Audio features are cached beside the run (keyed by utterance id): a resume starts in seconds.
    cache_path = cfg.out / "features.npz"
    cache: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        with np.load(cache_path) as z:
            cache = {k: z[k] for k in z.files}
    n_cached = len(cache)
    train_split = load_split(cfg.corpus, train_rows, cfg.min_window, cache, telephone=cfg.telephone > 0)
    val_split = load_split(cfg.corpus, val_rows, mcfg.window, cache)
    if main and len(cache) > n_cached:
        with atomic_output(cache_path) as tmp:
            np.savez(tmp, **cache)
    resume_state = read_checkpoint(last_path) if cfg.resume and last_path.is_file() else None
    init_state = read_checkpoint(cfg.init) if cfg.init is not None and resume_state is None else None
    if resume_state is not None or init_state is not None:
        # Keep the normalization the run (or the model it starts from) was trained with.
        start = resume_state or init_state
        mcfg = MotionDiTConfig(**start["config"])
        mean = start["norm"]["motion_mean"].numpy()
        std = start["norm"]["motion_std"].numpy()
    else:
        mean, std = motion_stats(train_split)
    assert mcfg.motion_dim == DIM and mcfg.audio_dim == FEATURE_DIM and mcfg.control_dim == CONTROL_DIM
    sampler = WindowSampler(train_split, mean, std, mcfg, augment=cfg.augment, telephone=cfg.telephone)
    val_batches = [
        WindowSampler(val_split, mean, std, mcfg).sample(np.random.default_rng(1000 + i), cfg.batch_size, mcfg.window)
        for i in range(4)
    ]

    # -- model, EMA copy, optimizer --
    torch.manual_seed(cfg.seed)
    model = MotionDiT(mcfg).to(device)
    if init_state is not None:  # a fine-tune starts from the EMA weights that were shipped
        model.load_state_dict(init_state["model"])
    ema = MotionDiT(mcfg).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    scheduler = DDIMScheduler(mcfg.train_timesteps)
    step, history, elapsed0 = 0, {"train": [], "val": []}, 0.0
    if resume_state is not None:
        model.load_state_dict(resume_state["train_model"])
        ema.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        step = int(resume_state["step"])
        history = resume_state["history"]
        elapsed0 = float(resume_state.get("train_seconds", 0.0))
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    rng = np.random.default_rng(cfg.seed + 7919 * rank + step)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + rank + step)

    def checkpoint_state() -> dict:
        return {
            "config": asdict(mcfg),
            "model": ema.state_dict(),  # the EMA weights are the ones sampled from
            "train_model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "norm": {"motion_mean": torch.from_numpy(mean), "motion_std": torch.from_numpy(std)},
            "step": step,
            "history": history,
            "train_seconds": elapsed0 + time.time() - t_start,
            "metrics": {"val_loss": history["val"][-1][1] if history["val"] else None},
            "recipe": {
                "augment": cfg.augment,
                "mouth_weight": cfg.mouth_weight,
                "batch_size": cfg.batch_size,
                "telephone": cfg.telephone,
                "init": str(cfg.init) if cfg.init else None,
            },
            "data": {
                "corpus": str(cfg.corpus),
                "extra_corpora": [str(p) for p in cfg.extra_corpora],
                "train_utterances": len(train_split.ids),
                "val_utterances": len(val_split.ids),
                "train_frames": len(train_split.motion),
            },
        }

    # -- loop --
    t_start = time.time()
    running = None
    while step < cfg.steps:
        if cfg.max_minutes is not None and (elapsed0 + time.time() - t_start) / 60 > cfg.max_minutes:
            break
        # Window length varies per batch so that short (streaming) windows are in distribution.
        length = mcfg.window if rng.random() < 0.5 else int(rng.integers(cfg.min_window, mcfg.window + 1))
        batch = {k: v.to(device) for k, v in sampler.sample(rng, cfg.batch_size, length).items()}
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, elapsed0 + time.time() - t_start, cfg)
        net.train()
        loss = diffusion_loss(net, scheduler, batch, cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))  # short warm-up of the average
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if main and step % 10 == 0:
            history["train"].append((step, running))
        info = {"loss": running, "minutes": round((elapsed0 + time.time() - t_start) / 60, 2)}
        if main and (step % cfg.val_every == 0 or step == cfg.steps):
            info["val"] = validate(ema, scheduler, val_batches, cfg, device)
            history["val"].append((step, info["val"]))
        if main and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            _save(last_path, checkpoint_state())
            plot_history(history, cfg.out / "loss.png")
        if on_step is not None and main:
            on_step(step, cfg.steps, info)

    # -- export: the inference checkpoint holds only what sampling needs --
    if main:
        state = checkpoint_state()
        _save(last_path, state)
        plot_history(history, cfg.out / "loss.png")
        keep = ("config", "model", "norm", "step", "metrics", "data", "recipe", "train_seconds")
        export = {k: state[k] for k in keep}
        _save(cfg.out / "motion_dit.pt", export)
    if world > 1:
        torch.distributed.destroy_process_group()
    return cfg.out / "motion_dit.pt"


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    scheduler: DDIMScheduler,
    batches: list[dict[str, torch.Tensor]],
    cfg: TrainConfig,
    device: torch.device,
) -> float:
    """Mean denoising loss on fixed held-out windows (held-out voices and engine), fixed noise."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(1234)
    losses = [
        diffusion_loss(model, scheduler, {k: v.to(device) for k, v in b.items()}, cfg, gen, train=False).item()
        for b in batches
    ]
    return float(np.mean(losses))


def plot_history(history: dict, path: Path) -> None:
    """Loss curve PNG (train running mean and held-out validation), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if history["train"]:
        s, v = zip(*history["train"], strict=True)
        ax.plot(s, v, label="train (running mean)")
    if history["val"]:
        s, v = zip(*history["val"], strict=True)
        ax.plot(s, v, "o-", label="validation (held-out voices)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (x0 MSE + velocity MSE, normalized units)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
