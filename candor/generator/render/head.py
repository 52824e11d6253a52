"""Anchor rings around the face: hair, ears and outline move with the head, the background stays.

Along the ray from the face centre through each of the 36 face-oval landmarks sit three anchors:

ring 1  just outside the oval; it keeps its offset from its oval point (rotated with the head), so
        the thin band oval -> ring 1 never folds, whatever the jaw or cheeks do.
ring 2  just beyond the head's silhouette in the person mask (hair, ears), or a little below the
        chin on the downward rays (the neck); moves rigidly with the head in 3D at the depth of its
        oval point, so it moves exactly as the outline does under a pure rotation (no tear at the
        face edge, the failure of a plain warp beyond ~15 degrees of yaw).
ring 3  further out, fixed: the background beyond it and the frame border never move; the band
        ring 2 -> ring 3 absorbs the head's motion.

The three bands are triangle strips between consecutive rings.
"""

from __future__ import annotations

import itertools

import numpy as np

from candor.generator import landmarks as lm
from candor.generator.render.raster import FRAME

OVAL = np.array(lm.FACE_OVAL, dtype=np.int32)
N_RAY = len(OVAL)

# Ring spacing in face heights (forehead-to-chin distance, ~230 px in Candor's framing).
RING1_GAP = 0.05
HAIR_PAD = 0.04
NECK_DROP = 0.30
ABSORB = 0.40  # ring 2 -> ring 3: room for ~20 degrees of yaw at the outline's depth
MIN_ABSORB = 0.12
MAX_HAIR = 0.85


def _ray_exit(mask: np.ndarray, origin: np.ndarray, direction: np.ndarray, start: float, stop: float) -> float:
    """Distance along the ray where the person mask ends (first run of 3 px below 0.5), in px."""
    steps = np.arange(start, stop, 1.0)
    pts = origin + steps[:, None] * direction
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= FRAME - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= FRAME - 1)
    if not inside.any():
        return start
    steps, pts = steps[inside], pts[inside]
    on = mask[pts[:, 1].round().astype(int), pts[:, 0].round().astype(int)] >= 0.5
    off = ~on
    run = off[:-2] & off[1:-1] & off[2:]
    hits = np.flatnonzero(run)
    return float(steps[hits[0]]) if len(hits) else float(steps[-1])


def _frame_exit(origin: np.ndarray, direction: np.ndarray) -> float:
    """Distance along the ray to the frame border, px."""
    ts = []
    for axis in (0, 1):
        d = direction[axis]
        if d > 1e-9:
            ts.append((FRAME - 1 - origin[axis]) / d)
        elif d < -1e-9:
            ts.append(-origin[axis] / d)
    return float(min(ts))


def _smooth_circular(values: np.ndarray) -> np.ndarray:
    """Median of 3 then mean of 3 around the closed ring (removes single-ray spikes in the mask)."""
    stack = np.stack([np.roll(values, 1), values, np.roll(values, -1)])
    med = np.median(stack, axis=0)
    return (np.roll(med, 1) + med + np.roll(med, -1)) / 3.0


class HeadRings:
    """Anchor rings of one portrait.

    ``src``: (3 * 36, 2) float32 source positions of rings 1-3 (ring-major); ``triangles``: (T, 3)
    strips in the joint vertex numbering (0..477 landmarks, then ``base + k`` for anchor k).
    """

    def __init__(
        self, landmarks: np.ndarray, person_mask: np.ndarray, base: int, depth: np.ndarray | None = None
    ) -> None:
        """``depth``: (478,) the landmark depths ring 2 moves at (default: the landmarks' own z)."""
        pts = landmarks[:, :2].astype(np.float64)
        oval = pts[OVAL]
        centre = oval.mean(axis=0)
        face_h = float(np.linalg.norm(pts[lm.CHIN] - pts[lm.FOREHEAD]))
        down = (pts[lm.CHIN] - pts[lm.FOREHEAD]) / max(face_h, 1e-6)
        offsets = oval - centre
        r0 = np.linalg.norm(offsets, axis=1)
        dirs = offsets / np.maximum(r0, 1e-6)[:, None]
        # 0 on the sides and top, 1 on the rays that point down the neck.
        downness = np.clip((dirs @ down - 0.35) / 0.35, 0.0, 1.0)

        sil = np.array(
            [_ray_exit(person_mask, centre, d, r, r + MAX_HAIR * face_h) for d, r in zip(dirs, r0, strict=True)]
        )
        sil = _smooth_circular(sil)
        edge = np.array([_frame_exit(centre, d) for d in dirs])

        r1 = r0 + RING1_GAP * face_h
        r2_head = np.maximum(sil + HAIR_PAD * face_h, r1 + RING1_GAP * face_h)
        r2 = (1 - downness) * r2_head + downness * (r0 + NECK_DROP * face_h)
        r3 = np.minimum(r2 + ABSORB * face_h, edge)
        # A portrait framed tightly leaves less room: the hair near the border then bends instead.
        r2 = np.minimum(r2, r3 - MIN_ABSORB * face_h)
        r1 = np.minimum(r1, r2 - 0.02 * face_h)
        r1 = np.maximum(r1, r0 + 1.0)
        r2 = np.maximum(r2, r1 + 1.0)
        r3 = np.maximum(r3, r2 + 1.0)

        rings = [centre + r[:, None] * dirs for r in (r1, r2, r3)]
        self.room = (r3 - r2).astype(np.float32)  # px ring 2 may travel before meeting ring 3
        self.src = np.concatenate(rings).astype(np.float32)
        self.oval_offset = (rings[0] - oval).astype(np.float32)  # ring 1 relative to its oval point
        self.oval_depth = (landmarks[:, 2] if depth is None else depth)[OVAL].astype(np.float32)
        self.base = base
        self.triangles = self._strips(base)

    @staticmethod
    def _strips(base: int) -> np.ndarray:
        loops = [OVAL] + [base + k * N_RAY + np.arange(N_RAY) for k in range(3)]
        tris = []
        for a, b in itertools.pairwise(loops):
            for i in range(N_RAY):
                j = (i + 1) % N_RAY
                tris.append((a[i], a[j], b[j]))
                tris.append((a[i], b[j], b[i]))
        return np.array(tris, dtype=np.int32)

    def targets(self, target_landmarks: np.ndarray, head_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target positions (108, 2) and depths (108,) of the anchors for one frame.

        ``head_matrix`` (3, 4) maps source pixels to target pixels: tgt = M[:, :3] @ src + M[:, 3].
        """
        m = head_matrix.astype(np.float32)
        oval_t = target_landmarks[OVAL]
        ring1 = oval_t[:, :2] + self.oval_offset @ m[:2, :2].T
        ring2_src = np.concatenate([self.src[N_RAY : 2 * N_RAY], self.oval_depth[:, None]], axis=1)
        ring2 = ring2_src @ m[:, :3].T + m[:, 3]
        # A large translation or zoom would push ring 2 through the fixed ring 3 (a fold in the
        # background): beyond 80% of the room there the hair stops following rigidly.
        move = ring2[:, :2] - self.src[N_RAY : 2 * N_RAY]
        length = np.linalg.norm(move, axis=1)
        limit = 0.8 * self.room
        soft = limit * np.tanh(length / np.maximum(limit, 1e-3))  # smooth, so motion stays continuous
        ring2[:, :2] = self.src[N_RAY : 2 * N_RAY] + move * (soft / np.maximum(length, 1e-6))[:, None]
        ring3 = self.src[2 * N_RAY :]
        xy = np.concatenate([ring1, ring2[:, :2], ring3]).astype(np.float32)
        depth = np.concatenate([oval_t[:, 2], ring2[:, 2], self.oval_depth]).astype(np.float32)
        return xy, depth
