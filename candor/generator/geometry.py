"""Rigid geometry shared by analysis, rig and extractor: rotations and similarity fits.

Coordinates are image pixels: x right, y down, z away from the camera (mediapipe's z sign
flipped is *not* needed: its negative z already points toward the camera).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation for head angles in degrees (yaw > 0 turns the face to the image's right,
    pitch > 0 lifts the chin, roll > 0 tilts clockwise on screen)."""
    return Rotation.from_euler("ZYX", [roll, -yaw, -pitch], degrees=True).as_matrix()


def angles_from_rotation(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_angles`: (yaw, pitch, roll) in degrees."""
    roll, neg_yaw, neg_pitch = Rotation.from_matrix(R).as_euler("ZYX", degrees=True)
    return float(-neg_yaw), float(-neg_pitch), float(roll)


def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Least-squares similarity (Umeyama) with ``dst ~ s * R @ src + t``.

    src, dst: (N, 3). Returns (s, R (3, 3), t (3,)).
    """
    w = np.ones(len(src)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    mu_s = (w[:, None] * src).sum(0)
    mu_d = (w[:, None] * dst).sum(0)
    a = src - mu_s
    b = dst - mu_d
    cov = (w[:, None] * b).T @ a
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    var_s = (w * (a**2).sum(1)).sum()
    s = float((S * np.diag(D)).sum() / var_s)
    t = mu_d - s * R @ mu_s
    return s, R, t


def half_rotation(R: np.ndarray) -> np.ndarray:
    """The rotation about the same axis by half the angle."""
    return Rotation.from_rotvec(Rotation.from_matrix(R).as_rotvec() / 2).as_matrix()
