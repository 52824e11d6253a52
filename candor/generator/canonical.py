"""Candor's canonical frontal face shape, derived from mediapipe's own mesh output.

mediapipe 0.10.21 does not ship ``canonical_face_model.obj``, so Candor derives the frontal shape
it needs from the bundled public-domain portraits (skimage's astronaut, matplotlib's
grace_hopper): their 3D landmarks are Procrustes-aligned together with their mirror images (the
left/right correspondence is found by reflection + nearest neighbour), the mean is rotated so it
is exactly bilaterally symmetric about x = 0 (pitch 0 is the portraits' average view), and scaled to
a face height (forehead 10 -> chin 152) of 1. ``python -m candor.generator.canonical`` rebuilds the
shipped ``data/canonical_face.npz``; loading never runs mediapipe.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from candor.generator import landmarks as L
from candor.generator.geometry import half_rotation, similarity_fit

_DATA_FILE = "canonical_face.npz"
_MIDLINE = (L.NOSE_TIP, L.NASION, L.CHIN, L.FOREHEAD, 13, 14, 0, 17, 4, 5, 6, 197, 195, 151, 9, 8)


def _reflect(points: np.ndarray) -> np.ndarray:
    out = points.copy()
    out[:, 0] = -out[:, 0]
    return out


def mirror_map(points: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Index of each landmark's left/right counterpart, from one roughly frontal face (N, 3)."""
    from scipy.spatial import cKDTree

    P = points - points[list(_MIDLINE)].mean(0)
    tree = cKDTree(P)
    mirrored = _reflect(P)
    m = tree.query(mirrored)[1]
    for _ in range(iterations):
        # Align the reflected, permuted face to the original so head yaw does not bias matching.
        s, R, t = similarity_fit(mirrored, P[m])
        m = tree.query(s * mirrored @ R.T + t)[1]
    # Keep the correspondence an involution where the matching disagrees with itself.
    for i in range(len(m)):
        if m[m[i]] != i:
            m[i] = i if np.abs(P[i, 0]) < 1e-3 * np.abs(P[:, 0]).max() else m[i]
    return m


def build_template(faces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric frontal template (478, 3) in face-height units, and the mirror map."""
    m = mirror_map(faces[0])
    shapes = []
    for f in faces:
        shapes.append(f)
        shapes.append(_reflect(f[m]))
    rigid = list(L.RIGID)
    ref = shapes[0]
    for _ in range(5):  # generalized Procrustes on the rigid points
        aligned = []
        for S in shapes:
            s, R, t = similarity_fit(S[rigid], ref[rigid])
            aligned.append(s * S @ R.T + t)
        ref = np.mean(aligned, 0)
    # Rotate so the shape is symmetric about x = 0: half of the rotation taking it to its mirror.
    ref = ref - ref[rigid].mean(0)
    _, Q, _ = similarity_fit(_reflect(ref[m])[rigid], ref[rigid])
    ref = ref @ half_rotation(Q).T
    ref = (ref + _reflect(ref[m])) / 2
    ref = ref - ref[rigid].mean(0)
    ref = ref / np.linalg.norm(ref[L.CHIN] - ref[L.FOREHEAD])
    return ref.astype(np.float32), m.astype(np.int32)


@lru_cache(maxsize=1)
def load_template() -> tuple[np.ndarray, np.ndarray]:
    """(template (478, 3) float32, mirror (478,) int32) from the shipped data file."""
    with resources.files("candor.generator.data").joinpath(_DATA_FILE).open("rb") as fh:
        data = np.load(fh)
        return data["template"], data["mirror"]


def _rebuild(out: Path) -> None:
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    from candor.generator.face import detect_landmarks

    grace = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    faces = [detect_landmarks(grace)[0], detect_landmarks(skimage.data.astronaut())[0]]
    template, mirror = build_template(faces)
    np.savez(out, template=template, mirror=mirror)
    print(f"wrote {out}: {template.shape}, {int((mirror != np.arange(len(mirror))).sum())} mirrored points")


if __name__ == "__main__":
    _rebuild(Path(__file__).parent / "data" / _DATA_FILE)
