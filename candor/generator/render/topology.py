"""Triangles of mediapipe's face mesh and of its three holes (mouth, eyes).

mediapipe ships ``FACEMESH_TESSELATION`` as 1,322 undirected edges, not triangles. The triangles are
the 3-cliques of that edge graph, less two "separating" cliques (three points joined pairwise by
edges of three different real triangles, around the nostrils): a clique whose three edges each
border three cliques is not a face of the surface. What remains is a disc with three holes (the mouth
and the two eye openings), 852 triangles, oriented consistently by walking shared edges.

The derived triangles are stored in ``face_triangles.npz`` next to this module so that rendering
never imports mediapipe; :func:`derive_triangles` regenerates them and a test checks the two agree.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np

from candor.generator import landmarks as lm

_STORED = Path(__file__).with_name("face_triangles.npz")

# Inner lip contour, corner to corner, upper and lower lip (they share the two corners).
MOUTH_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
MOUTH_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


def derive_triangles(edges: Iterable[tuple[int, int]]) -> np.ndarray:
    """Surface triangles of an undirected edge set, consistently oriented: (T, 3) int32.

    The orientation is only consistent between neighbours; :func:`orient` fixes the global sign
    against a real face.
    """
    edge_set = {tuple(sorted(e)) for e in edges}
    neighbours: dict[int, set[int]] = {}
    for a, b in edge_set:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    cliques = sorted({tuple(sorted((a, b, c))) for a, b in edge_set for c in neighbours[a] & neighbours[b]})
    uses = Counter(e for t in cliques for e in itertools.combinations(t, 2))
    tris = [t for t in cliques if not all(uses[e] == 3 for e in itertools.combinations(t, 2))]
    return _orient_consistently(tris)


def _orient_consistently(tris: list[tuple[int, int, int]]) -> np.ndarray:
    """Flip triangles so that every shared edge is walked in opposite directions by its two faces."""
    by_edge: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tris):
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            by_edge.setdefault((min(a, b), max(a, b)), []).append(i)
    out: list[tuple[int, int, int] | None] = [None] * len(tris)
    for seed in range(len(tris)):
        if out[seed] is not None:
            continue
        out[seed] = tris[seed]
        queue = deque([seed])
        while queue:
            i = queue.popleft()
            a0, b0, c0 = out[i]  # type: ignore[misc]
            for a, b in ((a0, b0), (b0, c0), (c0, a0)):
                for j in by_edge[(min(a, b), max(a, b))]:
                    if out[j] is not None:
                        continue
                    t = tris[j]
                    directed = {(t[0], t[1]), (t[1], t[2]), (t[2], t[0])}
                    # A neighbour must walk the shared edge as (b, a).
                    out[j] = t if (b, a) in directed else (t[0], t[2], t[1])
                    queue.append(j)
    return np.array(out, dtype=np.int32)


@cache
def face_triangles() -> np.ndarray:
    """The 852 stored surface triangles of the 468-point mesh, (T, 3) int32 (orientation: see orient)."""
    with np.load(_STORED) as data:
        return data["triangles"].astype(np.int32)


def signed_area(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle of ``points`` (N, >=2); positive = counter-clockwise
    on screen (x right, y down) as seen by the viewer, in squared pixels."""
    p = points[:, :2].astype(np.float64)
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def orient(tris: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``tris`` with the global sign chosen so most triangles have positive area on ``points``."""
    if np.sum(signed_area(points, tris) > 0) * 2 >= len(tris):
        return tris
    return tris[:, [0, 2, 1]].copy()


def strip(upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """Triangles filling the gap between two contours that share their first and last points.

    Used for the mouth and eye holes: column k of the upper contour pairs with column k of the lower,
    so a target opening samples the source opening column by column.
    """
    if len(upper) != len(lower) or upper[0] != lower[0] or upper[-1] != lower[-1]:
        raise ValueError("contours must have equal length and share their end points")
    tris = [(upper[0], upper[1], lower[1])]
    for k in range(1, len(upper) - 2):
        tris.append((upper[k], upper[k + 1], lower[k + 1]))
        tris.append((upper[k], lower[k + 1], lower[k]))
    tris.append((upper[-2], upper[-1], lower[-2]))
    return np.array(tris, dtype=np.int32)


def hole_triangles() -> dict[str, np.ndarray]:
    """Strips filling the mouth and both eye openings, keyed ``mouth``, ``right_eye``, ``left_eye``."""
    return {
        "mouth": strip(MOUTH_UPPER, MOUTH_LOWER),
        "right_eye": strip(lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER),
        "left_eye": strip(lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER),
    }
