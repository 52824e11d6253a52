"""The decoder on the two bundled real portraits: identity, stability, extremes, eyes, mouth."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter

import cv2
import numpy as np
import pytest

from candor.errors import InvalidInput
from candor.generator import landmarks as lm
from candor.generator import motion
from candor.generator.contact import contact_sheet, save_contact_sheet
from candor.generator.render import FaceRenderer
from candor.generator.render.topology import MOUTH_LOWER, MOUTH_UPPER, derive_triangles, face_triangles
from candor.generator.rig import pose_target

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module", params=["astronaut", "grace"])
def face(request, astronaut_face, grace_face):
    return {"astronaut": astronaut_face, "grace": grace_face}[request.param]


@pytest.fixture(scope="module")
def renderer(face):
    return FaceRenderer(face)


def vector(face, **fields: float) -> np.ndarray:
    """The portrait's own motion with some fields set (absolute values)."""
    v = face.baseline.astype(np.float32).copy()
    for name, value in fields.items():
        v[motion.index(name)] = value
    return v


def polygon_mask(points: np.ndarray) -> np.ndarray:
    mask = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2]).astype(np.int32)], 1)
    return mask.astype(bool)


def face_mask(landmarks: np.ndarray) -> np.ndarray:
    inner = cv2.erode(polygon_mask(landmarks[list(lm.FACE_OVAL)]).astype(np.uint8), np.ones((9, 9), np.uint8))
    return inner.astype(bool)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def test_triangles_are_the_tessellation_cliques_less_separating_ones():
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    derived = derive_triangles(FACEMESH_TESSELATION)
    stored = face_triangles()
    assert len(stored) == 852
    assert {tuple(sorted(t)) for t in derived} == {tuple(sorted(t)) for t in stored}
    # A disc with three holes: every edge borders one (boundary) or two (interior) triangles.
    uses = Counter(tuple(sorted(e)) for t in stored for e in itertools.combinations(t, 2))
    assert set(uses.values()) == {1, 2}
    assert sum(1 for n in uses.values() if n == 1) == 36 + 20 + 16 + 16  # oval, lips, two eyes
    # Consistent orientation: each interior edge is walked once in each direction.
    directed = Counter((int(t[i]), int(t[(i + 1) % 3])) for t in stored for i in range(3))
    assert max(directed.values()) == 1


def test_identity_reproduces_the_portrait(face, renderer):
    frame = renderer.render(pose_target(face, face.baseline))
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    inside = face_mask(face.landmarks)
    assert psnr(frame[inside], face.image[inside]) > 30.0
    assert psnr(frame, face.image) > 30.0


def test_render_is_deterministic(face, renderer):
    target = pose_target(face, vector(face, yaw=12.0, jawOpen=0.6, eyeBlinkLeft=0.5, gazeYaw=10.0))
    first = renderer.render(target)
    assert np.array_equal(first, renderer.render(target))
    assert np.array_equal(first, FaceRenderer(face).render(target))


def test_small_motion_changes_give_small_pixel_changes(face, renderer):
    base = renderer.render(pose_target(face, vector(face, yaw=5.0, jawOpen=0.3)))
    nudged = renderer.render(pose_target(face, vector(face, yaw=5.2, jawOpen=0.31)))
    moved = renderer.render(pose_target(face, vector(face, yaw=9.0, jawOpen=0.5)))
    small = np.abs(nudged.astype(float) - base).mean()
    large = np.abs(moved.astype(float) - base).mean()
    assert small < 1.0
    assert large > 3 * small


@pytest.mark.parametrize(
    "pose",
    [
        *({"yaw": -20.0}, {"yaw": 20.0}, {"pitch": -15.0}, {"pitch": 15.0}, {"roll": -10.0}, {"roll": 10.0}),
        *({"tx": -0.08, "ty": 0.05}, {"scale": 1.2}, {"yaw": 15.0, "pitch": -10.0, "roll": 8.0}),
    ],
    ids=lambda p: "_".join(f"{k}{v:+g}" for k, v in p.items()),
)
def test_extreme_poses_have_no_holes_or_folds(face, renderer, pose):
    target = pose_target(face, vector(face, **pose))
    frame = renderer.render(target)
    warp = renderer.warp
    assert np.isfinite(renderer.flow).all()
    owner = warp.owner
    tgt = warp.flatten(target.landmarks, target.head_matrix)
    ring_xy, _ = warp.rings.targets(tgt, target.head_matrix)
    target_xy = np.concatenate([tgt[:, :2], ring_xy])

    def area(points, tris):
        a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    # Visible face and head-band triangles keep their source orientation: nothing folds over. A
    # triangle seen from behind may only plug a gap nothing else covers: a handful of cells.
    same_side = np.sign(area(target_xy, warp.triangles)) == np.sign(area(warp.src, warp.triangles))
    kind = warp.kinds[np.maximum(owner, 0)]
    surface = (owner >= 0) & ((kind == 0) | (kind == 3))
    folded = surface & ~same_side[np.maximum(owner, 0)]
    assert folded.sum() <= 0.01 * (surface & (kind == 0)).sum(), f"{folded.sum()} folded cells visible"
    # No hole: every grid cell inside the fixed outer ring is drawn by some triangle.
    outer = warp.rings.src[2 * 36 :]
    grid = warp.grid
    cells = np.zeros((grid, grid), np.uint8)
    cv2.fillPoly(cells, [np.round(outer * grid / 512).astype(np.int32)], 1)
    cells = cv2.erode(cells, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    assert (owner[cells] >= 0).all()
    # The flow's Jacobian determinant is positive wherever a 2x2 block of cells is one face triangle.
    flow = warp.coarse
    jx = flow[:-1, 1:] - flow[:-1, :-1]
    jy = flow[1:, :-1] - flow[:-1, :-1]
    det = jx[..., 0] * jy[..., 1] - jx[..., 1] * jy[..., 0]
    block = owner[:-1, :-1]
    same = (block == owner[1:, :-1]) & (block == owner[:-1, 1:]) & (block >= 0)
    same &= (warp.kinds[np.maximum(block, 0)] == 0) & same_side[np.maximum(block, 0)]
    assert same.sum() > 100 and (det[same] > 0).all()
    # The frame border does not move.
    for edge in (np.s_[:2], np.s_[-2:], np.s_[:, :2], np.s_[:, -2:]):
        assert psnr(frame[edge], face.image[edge]) > 40


def test_blink_closes_the_lids_with_skin(face, renderer):
    frame = renderer.render(pose_target(face, vector(face, eyeBlinkLeft=1.0, eyeBlinkRight=1.0)))
    eyes = (
        (lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER, lm.RIGHT_IRIS),
        (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER, lm.LEFT_IRIS),
    )
    for upper, lower, iris in eyes:
        # The source's open eye region, shrunk a little: now lid skin (plus a thin lash line).
        eye = polygon_mask(face.landmarks[list(upper) + list(lower[::-1])]).astype(np.uint8)
        region = cv2.erode(eye, np.ones((3, 3), np.uint8)).astype(bool)
        # The skin around the eye in the portrait (its lighting, behind glasses if any).
        ring = cv2.dilate(eye, np.ones((15, 15), np.uint8)) > cv2.dilate(eye, np.ones((5, 5), np.uint8))
        skin = np.median(face.image[ring].astype(float) @ LUMA)
        after = frame[region].astype(float) @ LUMA
        assert 0.6 * skin < np.median(after) < 1.4 * skin, "closed lid is far from the skin's tone"
        # The iris and pupil are gone: the upper part of the iris disc is now (much lighter) lid skin.
        centre = face.landmarks[iris[0], :2]
        radius = np.linalg.norm(face.landmarks[list(iris[1:]), :2] - centre, axis=1).mean()
        ys, xs = np.mgrid[:512, :512]
        disc = region & ((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 < (0.8 * radius) ** 2) & (ys < centre[1])
        assert disc.sum() > 5
        pupil_before = (face.image[disc].astype(float) @ LUMA).mean()
        assert (frame[disc].astype(float) @ LUMA).mean() > pupil_before + 0.25 * skin


def test_gaze_moves_the_iris_within_the_opening(face, renderer):
    left = renderer.render(pose_target(face, vector(face, gazeYaw=-25.0)))
    right = renderer.render(pose_target(face, vector(face, gazeYaw=25.0)))
    for upper, lower in ((lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER), (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER)):
        region = polygon_mask(face.landmarks[list(upper) + list(lower[::-1])])
        ys, xs = np.nonzero(region)

        def dark_centre(img, ys=ys, xs=xs):
            w = np.clip(255 - img[ys, xs].astype(float) @ LUMA, 0, None) ** 2
            return (w * xs).sum() / w.sum()

        assert dark_centre(right) - dark_centre(left) > 2.0  # px, toward the image's right


def test_jaw_open_shows_a_dark_mouth_interior(face, renderer):
    target = pose_target(face, vector(face, jawOpen=1.0))
    frame = renderer.render(target)
    gap = polygon_mask(target.landmarks[list(MOUTH_UPPER) + list(MOUTH_LOWER[::-1])])
    assert gap.sum() > 300
    lips = polygon_mask(face.landmarks[list(lm.LIPS_OUTER)]) & ~polygon_mask(
        face.landmarks[list(MOUTH_UPPER) + list(MOUTH_LOWER[::-1])]
    )
    lip_luma = np.median(face.image[lips].astype(float) @ LUMA)
    luma = frame[gap].astype(float) @ LUMA
    # A cavity, not a curtain of stretched lip: a good share of the gap is much darker than the lips.
    assert (luma < 0.5 * lip_luma).mean() > 0.3
    # The middle of the opening is dark.
    mid = (target.landmarks[lm.UPPER_LIP_INNER, :2] + target.landmarks[lm.LOWER_LIP_INNER, :2]) / 2
    x, y = np.round(mid).astype(int)
    assert frame[y - 1 : y + 2, x - 1 : x + 2].astype(float).mean() < 0.6 * lip_luma


def test_renderer_rejects_bad_input(face, renderer):
    bad = pose_target(face, face.baseline)
    bad.landmarks = bad.landmarks.copy()
    bad.landmarks[3, 0] = np.nan
    with pytest.raises(InvalidInput):
        renderer.render(bad)
    small = dataclasses.replace(face, image=face.image[:256])
    with pytest.raises(InvalidInput):
        FaceRenderer(small)


def test_contact_sheet_tiles_and_labels(tmp_path, astronaut):
    frames = [astronaut, astronaut[:, ::-1], astronaut[::2, ::2]]
    sheet = contact_sheet(frames, ["a", "b", "c"], columns=2, tile=64)
    assert sheet.shape == (2 * (64 + 22), 128, 3)
    assert sheet[-22:, 64:].min() == 255  # the empty fourth cell stays white
    assert sheet[64:86, :64].min() < 128  # a label was printed
    path = save_contact_sheet(tmp_path / "sheet.png", frames, None, columns=3, tile=32)
    back = cv2.imread(str(path))
    assert back.shape == (32, 96, 3)
    with pytest.raises(InvalidInput):
        contact_sheet([])
    with pytest.raises(InvalidInput):
        contact_sheet(frames, ["only one"])
