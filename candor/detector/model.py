"""The synthetic-face classifier: a small CNN on aligned face crops joined with temporal cues.

One sample = one aligned 96x96 crop + the temporal feature vector at that instant
(:mod:`candor.detector.features`); the model gives a logit per sample, a video's score is the mean
logit of its samples mapped through the calibration fitted on held-out clips (:class:`Calibration`).
The checkpoint is one dict (config, weights, feature normalisation, calibration, metrics) and
:func:`load_classifier` is the only function that reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from candor.detector.features import CROP, TEMPORAL_DIM, TEMPORAL_NAMES, ClipFeatures
from candor.errors import CandorError
from candor.files import atomic_output

CHECKPOINT = Path(__file__).parent / "checkpoints" / "detector.pt"
# The temporal cues in groups an analyst can act on; :meth:`Classifier.explain` measures each group's
# share of a score by setting it to its training mean (0 after normalisation) and scoring again.
CUE_GROUPS: dict[str, tuple[str, ...]] = {
    "expression motion": (
        "nonrigid_all", "nonrigid_mouth", "nonrigid_eyes", "mouth_aperture_change", "eye_aperture_change",
    ),
    "head motion": ("rigid_translation", "rigid_scale", "rigid_rotation"),
    "mouth and eye opening": ("mouth_aperture", "eye_aperture"),
    "frame-to-frame pixel change": (
        "diff_mouth", "diff_eyes", "diff_face", "diff_background",
        "log_ratio_mouth_face", "log_ratio_eyes_face", "log_ratio_face_background",
    ),
    "still background and body": ("static_background", "log_ratio_below_face"),
    "grain carried by the face": ("grain_corr_face", "grain_corr_background"),
}  # fmt: skip
APPEARANCE_CUE = "face appearance"  # the aligned crop alone, every temporal cue at its training mean


@dataclass
class DetectorConfig:
    """Every size of the model lives here."""

    crop: int = CROP
    channels: tuple[int, ...] = (24, 32, 48, 64, 96)
    temporal_dim: int = TEMPORAL_DIM
    temporal_hidden: int = 32
    hidden: int = 64
    dropout: float = 0.2


class CropEncoder(nn.Module):
    """Strided conv stages then global average pooling: a face crop -> one vector."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            # one strided conv per stage: small enough to train on two busy CPU cores
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 96, 96) in [-1, 1] -> (B, C)
        return self.body(x).mean(dim=(2, 3))


class SyntheticFaceClassifier(nn.Module):
    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.crops = CropEncoder(cfg.channels)
        self.temporal = nn.Sequential(nn.Linear(cfg.temporal_dim, cfg.temporal_hidden), nn.ReLU(inplace=True))
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(self.crops.out_dim + cfg.temporal_hidden, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, crops: torch.Tensor, temporal: torch.Tensor) -> torch.Tensor:
        # crops: (B, 3, H, W) in [-1, 1]; temporal: (B, D) normalised -> logits (B,)
        return self.head(torch.cat([self.crops(crops), self.temporal(temporal)], dim=1)).squeeze(1)


def crops_to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@dataclass
class Calibration:
    """Platt scaling of a video's mean sample logit: p = sigmoid(a * logit + b), fitted on held-out
    clips; ``threshold`` is the calibrated probability above which the verdict says synthetic."""

    a: float = 1.0
    b: float = 0.0
    threshold: float = 0.5
    method: str = "platt (scikit-learn LogisticRegression on the validation split's video logits)"
    fitted_on: int = 0  # validation videos

    def probability(self, logit: float | np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(logit, np.float64) + self.b)))


@dataclass
class Classifier:
    """A loaded model ready to score clips (CPU or CUDA, inference mode)."""

    model: SyntheticFaceClassifier
    config: DetectorConfig
    temporal_mean: np.ndarray
    temporal_std: np.ndarray
    calibration: Calibration
    sample_fps: float
    metrics: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    device: str = "cpu"
    # the cues this checkpoint was trained on, in its order (older checkpoints know fewer of them)
    temporal_names: tuple[str, ...] = TEMPORAL_NAMES

    @property
    def columns(self) -> list[int]:
        """Where this checkpoint's cues sit in :data:`TEMPORAL_NAMES` (the order features are made in)."""
        return [TEMPORAL_NAMES.index(n) for n in self.temporal_names]

    def sample_logits(self, features: ClipFeatures, batch: int = 128) -> np.ndarray:
        """(N,) logits, one per sample of ``features``."""
        return self.explain(features, batch, cues=False)[0]

    def explain(
        self, features: ClipFeatures, batch: int = 128, *, cues: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(N,) logits and, per cue (:data:`CUE_GROUPS` and :data:`APPEARANCE_CUE`), (N,) logits of
        the same samples with that cue taken away: a temporal group set to its training mean, or for
        appearance every temporal cue at its mean (what the crop says alone). The crop is encoded once."""
        temporal = (features.temporal[:, self.columns] - self.temporal_mean) / self.temporal_std
        known = self.temporal_names
        groups = {
            name: [known.index(n) for n in names if n in known]
            for name, names in CUE_GROUPS.items()
            if any(n in known for n in names)
        }
        logits: list[np.ndarray] = []
        ablated: dict[str, list[np.ndarray]] = {name: [] for name in (*groups, APPEARANCE_CUE)} if cues else {}
        model = self.model
        with torch.inference_mode():
            for i in range(0, features.n, batch):
                embedded = model.crops(crops_to_tensor(features.crops[i : i + batch]).to(self.device))
                t = torch.from_numpy(temporal[i : i + batch]).float().to(self.device)

                def score(t: torch.Tensor, embedded: torch.Tensor = embedded) -> np.ndarray:
                    return model.head(torch.cat([embedded, model.temporal(t)], dim=1)).squeeze(1).cpu().numpy()

                logits.append(score(t))
                if not cues:
                    continue
                for name, idx in groups.items():
                    neutral = t.clone()
                    neutral[:, idx] = 0.0
                    ablated[name].append(score(neutral))
                ablated[APPEARANCE_CUE].append(score(torch.zeros_like(t)))
        empty = np.zeros(0, np.float32)
        return (
            np.concatenate(logits) if logits else empty,
            {name: np.concatenate(parts) if parts else empty for name, parts in ablated.items()},
        )

    def boundary_logit(self) -> float:
        """The mean logit at which the calibrated probability equals the threshold."""
        t = min(max(self.calibration.threshold, 1e-6), 1 - 1e-6)
        return float((np.log(t / (1 - t)) - self.calibration.b) / self.calibration.a)

    @property
    def trained_on(self) -> str:
        """What the checkpoint's training data was, in words (recorded by the trainer)."""
        return str(self.metrics.get("trained_on") or "not recorded in this checkpoint")

    def video_probability(self, logits: np.ndarray) -> float:
        """Calibrated probability that the video's face is synthetic, from its sample logits."""
        return float(self.calibration.probability(float(np.mean(logits))))


def save_checkpoint(path: str | Path, classifier: Classifier, *, step: int) -> Path:
    """Write the one-dict checkpoint (weights in float16 to stay small), atomically."""
    path = Path(path)
    state = {k: v.half() if v.is_floating_point() else v for k, v in classifier.model.state_dict().items()}
    blob = {
        "config": asdict(classifier.config),
        "model": state,
        "step": step,
        "metrics": classifier.metrics,
        "temporal_names": list(classifier.temporal_names),
        "temporal_mean": classifier.temporal_mean.tolist(),
        "temporal_std": classifier.temporal_std.tolist(),
        "calibration": asdict(classifier.calibration),
        "sample_fps": classifier.sample_fps,
    }
    with atomic_output(path, mode=0o644) as tmp:  # 0644: the checkpoint ships inside the package
        torch.save(blob, tmp)
    return path


def load_classifier(path: str | Path | None = None, *, device: str = "cpu") -> Classifier:
    """Load a checkpoint (default: the one shipped in the package). Raises CandorError if absent."""
    path = Path(path) if path is not None else CHECKPOINT
    if not path.is_file():
        raise CandorError(f"detector checkpoint not found: {path} (train one with `candor detector train`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    names = tuple(blob["temporal_names"])
    if not set(names) <= set(TEMPORAL_NAMES):
        raise CandorError(f"{path} was trained on temporal features this version does not make; retrain it")
    cfg = DetectorConfig(**{**blob["config"], "channels": tuple(blob["config"]["channels"])})
    model = SyntheticFaceClassifier(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["model"].items()})
    model.eval().to(device)
    return Classifier(
        model=model,
        config=cfg,
        temporal_mean=np.asarray(blob["temporal_mean"], np.float32),
        temporal_std=np.asarray(blob["temporal_std"], np.float32),
        calibration=Calibration(**blob["calibration"]),
        sample_fps=float(blob["sample_fps"]),
        metrics={"steps": int(blob.get("step", 0)), **blob.get("metrics", {})},
        path=str(path),
        device=device,
        temporal_names=names,
    )
