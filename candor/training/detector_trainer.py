"""``candor detector train``: fit the classifier on a dataset directory, calibrate it, save the checkpoint.

Reads top to bottom: config, data, model, optimizer, loop, calibration, checkpoint. The data are the
``.npz`` clips that ``candor detector dataset`` writes (``<dir>/train`` and ``<dir>/val``); each
sample is one aligned crop plus its temporal vector and carries its clip's label.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from candor.detector.features import TEMPORAL_DIM, TEMPORAL_NAMES
from candor.detector.model import (
    Calibration,
    Classifier,
    DetectorConfig,
    SyntheticFaceClassifier,
    crops_to_tensor,
    save_checkpoint,
)
from candor.errors import InvalidInput


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-3
    seed: int = 0
    max_fpr: float = 0.01  # the verdict threshold keeps validation false positives at or under this
    # cue groups (candor.detector.model.CUE_GROUPS) left out of the model: with no real talking video
    # in the real class, motion itself separates the classes in training and nowhere else
    drop_cues: tuple[str, ...] = ()
    # share of training crops shown softened (reduced to 40-80 % and enlarged back): a face the channel
    # resized, or filmed small, looks like this; the aligned crop otherwise only ever sees one sharpness
    crop_rescale_p: float = 0.0
    # keep the epoch that catches most validation synthetic clips at the false-positive target (ties:
    # AUC, then log loss) instead of the best AUC (which saturates near 1.0 and says little about the
    # few clips that sit near the threshold)
    select_on_tpr: bool = False


@dataclass
class ClipSet:
    """Samples of many clips, flattened: ``clip`` (N,) indexes ``labels``/``names`` (per clip)."""

    crops: np.ndarray  # (N, 96, 96, 3) uint8
    temporal: np.ndarray  # (N, D)
    clip: np.ndarray  # (N,)
    labels: np.ndarray  # (C,) 0 real / 1 synthetic
    names: list[str]
    identities: list[str]

    @property
    def sample_labels(self) -> np.ndarray:
        return self.labels[self.clip]


def load_split(data_dir: str | Path, split: str) -> ClipSet:
    """Every ``<data_dir>/<split>/{real,fake}/*.npz`` clip. Raises InvalidInput when there are none."""
    paths = sorted(Path(data_dir, split).glob("*/*.npz"))
    if not paths:
        raise InvalidInput(f"no {split} clips under {data_dir} (build them with `candor detector dataset`)")
    crops, temporal, clip, labels, names, idents = [], [], [], [], [], []
    for i, path in enumerate(paths):
        with np.load(path) as data:
            crops.append(data["crops"])
            temporal.append(data["temporal"].reshape(-1, TEMPORAL_DIM))
            clip.append(np.full(len(data["crops"]), i))
            labels.append(int(data["label"]))
            idents.append(str(data["identity"]))
        names.append(str(path.relative_to(data_dir)))
    return ClipSet(
        np.concatenate(crops), np.concatenate(temporal).astype(np.float32), np.concatenate(clip),
        np.array(labels), names, idents,
    )  # fmt: skip


def _augment(crops: torch.Tensor, rng: torch.Generator, rescale_p: float = 0.0) -> torch.Tensor:
    """Mirror half the crops, soften ``rescale_p`` of them (down to 40-80 % and back up) and jitter
    brightness/contrast a little (crops: (B, 3, H, W) in [-1, 1])."""
    flip = torch.rand(len(crops), generator=rng) < 0.5
    crops = torch.where(flip[:, None, None, None], crops.flip(3), crops)
    if rescale_p > 0:
        pick = torch.nonzero(torch.rand(len(crops), generator=rng) < rescale_p).flatten()
        if len(pick):
            side = crops.shape[-1]
            small = int(side * (0.4 + 0.4 * float(torch.rand(1, generator=rng))))
            soft = nn.functional.interpolate(crops[pick], size=(small, small), mode="bilinear", antialias=True)
            crops = crops.clone()
            crops[pick] = nn.functional.interpolate(soft, size=(side, side), mode="bilinear", align_corners=False)
    gain = 1 + 0.15 * (torch.rand(len(crops), 1, 1, 1, generator=rng) - 0.5)
    bias = 0.1 * (torch.rand(len(crops), 1, 1, 1, generator=rng) - 0.5)
    return (crops * gain + bias).clamp(-1, 1)


def clip_logits(classifier: Classifier, data: ClipSet) -> np.ndarray:
    """(C,) mean sample logit per clip."""
    from candor.detector.features import ClipFeatures

    features = ClipFeatures(
        data.crops, data.temporal, np.zeros(len(data.clip)), np.zeros((0, 4)), np.zeros(0), 0, 0, 0, 0
    )
    logits = classifier.sample_logits(features)
    return np.array([logits[data.clip == c].mean() for c in range(len(data.labels))])


def _balanced_log_loss(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary log loss of clip logits, each class weighted equally."""
    z = np.where(labels == 1, logits, -logits)
    loss = np.logaddexp(0.0, -z)
    return float(np.mean([loss[labels == c].mean() for c in (0, 1) if (labels == c).any()]))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")


def tpr_at_max_fpr(labels: np.ndarray, logits: np.ndarray, max_fpr: float) -> float:
    """The share of synthetic clips scoring over every real clip but the ``max_fpr`` share of the
    highest: what a threshold set on these clips at that false-positive rate catches."""
    real = np.sort(logits[labels == 0])[::-1]
    if not len(real) or not (labels == 1).any():
        return float("nan")
    allowed = int(np.floor(max_fpr * len(real)))
    above = real[allowed] if allowed < len(real) else -np.inf
    return float((logits[labels == 1] > above).mean())


def fit_calibration(labels: np.ndarray, logits: np.ndarray, max_fpr: float) -> Calibration:
    """Platt scaling on held-out video logits, and the lowest threshold (>= 0.5) keeping FPR <= max_fpr."""
    from sklearn.linear_model import LogisticRegression

    # balanced: the validation split holds many more real clips (the calibration reals) than synthetic
    lr = LogisticRegression(C=10.0, class_weight="balanced").fit(logits.reshape(-1, 1), labels)
    cal = Calibration(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), fitted_on=len(labels))
    probs = cal.probability(logits)
    real = np.sort(probs[labels == 0])[::-1]
    allowed = int(np.floor(max_fpr * len(real)))  # how many real clips may score above the threshold
    above = real[allowed] if allowed < len(real) else 0.0
    cal.threshold = float(max(0.5, min(above + 1e-3, 0.999)))
    return cal


def train(
    data_dir: str | Path,
    out_path: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: DetectorConfig | None = None,
    *,
    device: str | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> Classifier:
    """Train on ``data_dir``/train, calibrate on ``data_dir``/val, save to ``out_path``; returns the model."""
    cfg = cfg or TrainConfig()
    model_cfg = model_cfg or DetectorConfig()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.time()
    torch.manual_seed(cfg.seed)
    rng = torch.Generator().manual_seed(cfg.seed)

    # 1. Data: the kept cues, normalised with the training split's statistics.
    train_set, val_set = load_split(data_dir, "train"), load_split(data_dir, "val")
    names = kept_cues(cfg.drop_cues)
    columns = [TEMPORAL_NAMES.index(n) for n in names]
    model_cfg = DetectorConfig(**{**asdict(model_cfg), "temporal_dim": len(names)})
    mean = train_set.temporal[:, columns].mean(0)
    std = train_set.temporal[:, columns].std(0) + 1e-6
    crops = crops_to_tensor(train_set.crops)
    temporal = torch.from_numpy((train_set.temporal[:, columns] - mean) / std).float()
    targets = torch.from_numpy(train_set.sample_labels).float()
    # Balance the classes per sample (clip counts may differ after faces were missed).
    pos = float(targets.mean())
    weights = torch.where(targets > 0, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))

    # 2. Model and optimizer.
    model = SyntheticFaceClassifier(model_cfg).to(device)
    steps_per_epoch = (len(targets) + cfg.batch_size - 1) // cfg.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    classifier = Classifier(
        model, model_cfg, mean, std, Calibration(), sample_fps=0.0, device=device, temporal_names=names
    )

    # 3. Loop; the weights of the best validation epoch are kept (early stopping on held-out identities).
    step = 0
    history: list[dict[str, float]] = []
    best_key, best_state, best_epoch = (-1.0, -1.0, -float("inf")), None, 0
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(targets), generator=rng)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            x = _augment(crops[idx], rng, cfg.crop_rescale_p).to(device)
            logits = model(x, temporal[idx].to(device))
            loss = (loss_fn(logits, targets[idx].to(device)) * weights[idx].to(device)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
            step += 1
        model.eval()
        val_clip = clip_logits(classifier, val_set)
        val_auc = roc_auc(val_set.labels, val_clip)
        # validation AUC saturates at 1.0 within a few epochs; ties go to the epoch whose clips sit
        # furthest on their own side (lower class-balanced log loss of the clip logits)
        val_loss = _balanced_log_loss(val_set.labels, val_clip)
        # what the verdict needs: synthetic clips caught at the threshold the false-positive target allows
        val_tpr = tpr_at_max_fpr(val_set.labels, val_clip, cfg.max_fpr)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total / len(order),
                "val_auc": val_auc,
                "val_loss": val_loss,
                "val_tpr": val_tpr,
            }
        )
        key = (val_tpr, val_auc, -val_loss) if cfg.select_on_tpr else (val_auc, -val_loss, 0.0)
        if key > best_key:
            best_key, best_epoch = key, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch:
            on_epoch(epoch + 1, history[-1])

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()

    # 4. Calibration on the held-out validation identities (video level).
    val_logits = clip_logits(classifier, val_set)
    classifier.calibration = fit_calibration(val_set.labels, val_logits, cfg.max_fpr)
    probs = classifier.calibration.probability(val_logits)
    flagged = probs >= classifier.calibration.threshold
    classifier.sample_fps = _sample_fps(data_dir)
    classifier.metrics = _metrics(cfg, model_cfg, train_set, val_set, val_logits, flagged, history, started, device)
    classifier.metrics["best_epoch"] = best_epoch
    classifier.metrics["trained_on"] = describe_training_data(data_dir, train_set)
    classifier.metrics["dropped_cues"] = list(cfg.drop_cues)

    # 5. Checkpoint.
    save_checkpoint(out_path, classifier, step=step)
    classifier.path = str(out_path)
    return classifier


def kept_cues(drop: tuple[str, ...]) -> tuple[str, ...]:
    """:data:`TEMPORAL_NAMES` less the cues of the named groups. Raises InvalidInput for an unknown group."""
    from candor.detector.model import CUE_GROUPS

    unknown = [g for g in drop if g not in CUE_GROUPS]
    if unknown:
        raise InvalidInput(f"unknown cue group(s) {', '.join(unknown)}; choose from {', '.join(CUE_GROUPS)}")
    dropped = {n for g in drop for n in CUE_GROUPS[g]}
    return tuple(n for n in TEMPORAL_NAMES if n not in dropped)


def describe_training_data(data_dir: str | Path, train_set: ClipSet) -> str:
    """The training data in one sentence for the checkpoint: clip and identity counts per class, the
    audio-driven share, and the dataset's own statement of contents (index.json) where it has one."""
    import json

    labels = train_set.labels
    index = Path(data_dir, "index.json")
    product = index.is_file() and "variants" in json.loads(index.read_text())  # every synthetic clip audio-driven
    audio = sum(
        1 for name, label in zip(train_set.names, labels, strict=True) if label == 1 and (product or "_audio" in name)
    )
    counts = (
        f"{int((labels == 0).sum())} real and {int((labels == 1).sum())} synthetic clips "
        f"({audio} from the audio-driven pipeline) of {len(set(train_set.identities))} identities"
    )
    contents = json.loads(index.read_text()).get("contents") if index.is_file() else None
    return f"{counts}; {contents}" if contents else f"{counts} from {Path(data_dir).name}/ (contents not described)"


def _sample_fps(data_dir: str | Path) -> float:
    import json

    index = Path(data_dir, "index.json")
    if index.is_file():
        return float(json.loads(index.read_text())["config"]["sample_fps"])
    from candor.detector.features import DEFAULT_SAMPLE_FPS

    return DEFAULT_SAMPLE_FPS


def _metrics(cfg, model_cfg, train_set, val_set, val_logits, flagged, history, started, device) -> dict[str, Any]:
    labels = val_set.labels
    return {
        "train_clips": int(len(train_set.labels)),
        "train_samples": int(len(train_set.clip)),
        "train_identities": len(set(train_set.identities)),
        "val_clips": int(len(labels)),
        "val_identities": len(set(val_set.identities)),
        "val_auc": roc_auc(labels, val_logits),
        "val_tpr_at_threshold": float(flagged[labels == 1].mean()) if (labels == 1).any() else float("nan"),
        "val_fpr_at_threshold": float(flagged[labels == 0].mean()) if (labels == 0).any() else float("nan"),
        "history": history,
        "train_seconds": round(time.time() - started, 1),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "train_config": asdict(cfg),
        "parameters": sum(p.numel() for p in SyntheticFaceClassifier(model_cfg).parameters()),
    }


def recalibrate(data_dir: str | Path, checkpoint: str | Path, *, max_fpr: float = 0.01) -> Classifier:
    """Refit the calibration and threshold of ``checkpoint`` on ``data_dir``/val (weights unchanged)."""
    from candor.detector.model import load_classifier

    classifier = load_classifier(checkpoint)
    val_set = load_split(data_dir, "val")
    logits = clip_logits(classifier, val_set)
    classifier.calibration = fit_calibration(val_set.labels, logits, max_fpr)
    flagged = classifier.calibration.probability(logits) >= classifier.calibration.threshold
    labels = val_set.labels
    classifier.metrics.update(
        val_clips=int(len(labels)),
        val_real_clips=int((labels == 0).sum()),
        val_auc=roc_auc(labels, logits),
        val_tpr_at_threshold=float(flagged[labels == 1].mean()),
        val_fpr_at_threshold=float(flagged[labels == 0].mean()),
    )
    save_checkpoint(checkpoint, classifier, step=int(classifier.metrics.get("steps", 0)))
    return classifier
