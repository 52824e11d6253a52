import contextlib
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from candor.errors import ImageTooLarge, InvalidImage, NoFaceFound
from candor.generator import landmarks as L
from candor.generator.face import DEFAULT_FACE_HEIGHT, FRAME, analyze_image, load_image


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("fixture", ["astronaut_face", "grace_face"])
def test_bundled_portraits_are_framed_and_posed(fixture, request):
    face = request.getfixturevalue(fixture)
    assert face.image.shape == (FRAME, FRAME, 3) and face.image.dtype == np.uint8
    assert face.landmarks.shape == (478, 3)
    height = np.linalg.norm(face.landmarks[L.FOREHEAD, :2] - face.landmarks[L.CHIN, :2])
    # VASA-style framing: the face spans 40-55% of the frame height.
    assert 0.40 * FRAME < height < 0.55 * FRAME
    assert abs(height - DEFAULT_FACE_HEIGHT) < 0.1 * FRAME
    yaw, pitch, roll = face.pose[:3]
    assert abs(yaw) < 12 and abs(pitch) < 15 and abs(roll) < 10  # both portraits face the camera
    # The person mask covers the face centre and not the frame's top corners.
    assert face.person_mask[int(face.landmarks[L.NOSE_TIP, 1]), int(face.landmarks[L.NOSE_TIP, 0])] > 0.5
    assert face.faces_found == 1 and not face.notes


def test_turned_head_reads_as_yaw(astronaut):
    from candor.generator.face import fit_pose
    from candor.generator.geometry import rotation_from_angles
    from candor.generator.rig import pose_target

    face = analyze_image(astronaut)
    v = face.baseline.copy()
    v[0] += 15.0
    target = pose_target(face, v)
    yaw = fit_pose(target.landmarks).angles[0]
    assert yaw == pytest.approx(face.pose[0] + 15.0, abs=0.5)
    assert np.allclose(rotation_from_angles(10, 0, 0) @ rotation_from_angles(-10, 0, 0), np.eye(3), atol=1e-9)


@pytest.mark.parametrize(
    "stylize",
    [
        lambda im: cv2.stylization(im, sigma_s=60, sigma_r=0.45),  # inked watercolour
        lambda im: cv2.xphoto.oilPainting(im, 3, 1),  # oil paint
    ],
    ids=["watercolour", "oil"],
)
def test_painting_like_stylization_is_analysed(astronaut_face, astronaut, stylize):
    painted = stylize(astronaut)
    assert np.abs(painted.astype(int) - astronaut).mean() > 4  # really changed
    face = analyze_image(painted)
    # Landmarks of the painting land within a few pixels of the photo's; the pose agrees.
    err = np.median(np.linalg.norm(face.landmarks[:, :2] - astronaut_face.landmarks[:, :2], axis=1))
    assert err < 6.0
    assert np.abs(face.pose[:3] - astronaut_face.pose[:3]).max() < 8.0


def test_keep_framing_keeps_the_layout(grace_hopper):
    face = analyze_image(grace_hopper, keep_framing=True)
    assert face.image.shape == (FRAME, FRAME, 3)
    # grace_hopper is 512x600: kept framing scales by 512/600 and pads the sides, nothing else.
    from candor.generator.face import detect_landmarks

    k = FRAME / 600
    nose = detect_landmarks(grace_hopper)[0][L.NOSE_TIP, :2]
    expected = nose * k + np.array([(FRAME - 512 * k) / 2, 0.0])
    assert np.linalg.norm(face.landmarks[L.NOSE_TIP, :2] - expected) < 3.0


def test_several_faces_use_the_largest_and_say_so(astronaut, grace_hopper):
    small = cv2.resize(grace_hopper, (256, 300))
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[:512, :512] = astronaut
    canvas[100:400, 600:856] = small
    face = analyze_image(canvas)
    assert face.faces_found == 2
    assert "found 2 faces" in face.notes[0] and "--face" in face.notes[0]
    chosen = face.box
    assert chosen.x1 <= 520  # the astronaut (larger face) was used
    other = analyze_image(canvas, face_index=1)
    assert other.box.x0 > 550
    with pytest.raises(NoFaceFound, match="face 5 requested"):
        analyze_image(canvas, face_index=5)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(InvalidImage, match="not an image"):
        load_image(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InvalidImage, match="not found"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InvalidImage, match="empty"):
        load_image(tmp_path / "empty.jpg")


def test_truncated_file(astronaut):
    data = _png_bytes(astronaut)
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    # A valid PNG header claiming 60000 x 60000 pixels (3.6 gigapixels) with almost no data.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageTooLarge, match="60000x60000"):
        load_image(png)


def test_image_without_a_face():
    import skimage.data

    with pytest.raises(NoFaceFound, match="no face"):
        analyze_image(skimage.data.coffee())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_damaged_files_always_get_a_clear_error(astronaut, fmt):
    import random

    buf = io.BytesIO()
    Image.fromarray(astronaut[:128, :128]).save(buf, format=fmt)
    clean = buf.getvalue()
    rng = random.Random(fmt)
    for _ in range(300):
        damaged = bytearray(clean)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        # Every failure is the domain error, never a raw Pillow exception.
        with contextlib.suppress(InvalidImage):
            load_image(bytes(damaged))
