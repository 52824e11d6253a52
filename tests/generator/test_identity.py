"""Face identity embeddings on the bundled real photos: same person close, different people apart."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from candor.errors import NoFaceFound
from candor.generator.identity import EMBEDDING_SIZE, MATCH_THRESHOLD, embed_face, identity_distance


def _jpeg_copy(image: np.ndarray, quality: int = 40) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        return np.asarray(img.convert("RGB"))


def test_same_person_matches_and_different_people_do_not(astronaut, grace_hopper) -> None:  # type: ignore[no-untyped-def]
    reference = embed_face(astronaut)
    assert reference.embedding.shape == (EMBEDDING_SIZE,)
    assert reference.detector == "dlib" and reference.faces_found == 1
    two = embed_face(np.concatenate([astronaut, grace_hopper[:512, :512]], axis=1))
    assert two.faces_found == 2
    # A second, different-looking photo of the same person: mirrored, cropped, recompressed, darker.
    h, w = astronaut.shape[:2]
    second = _jpeg_copy((astronaut[: int(h * 0.8), int(w * 0.1) :, :][:, ::-1] * 0.7).astype(np.uint8))
    same = identity_distance(reference.embedding, embed_face(second).embedding)
    other = identity_distance(reference.embedding, embed_face(grace_hopper).embedding)
    assert same < MATCH_THRESHOLD <= other
    assert 0.0 < same < 0.4 and other > 0.6  # margins measured by benchmarks/identity.py


def test_no_face_is_refused_and_a_given_box_frames_one(astronaut) -> None:  # type: ignore[no-untyped-def]
    blank = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(NoFaceFound):
        embed_face(blank)
    # Without a detection the caller's box (e.g. mediapipe's) frames the face.
    upside_down = np.ascontiguousarray(astronaut[::-1])  # HOG finds no upright face here
    with pytest.raises(NoFaceFound):
        embed_face(upside_down)
    boxed = embed_face(upside_down, box_xyxy=(175, 346, 265, 436))
    assert boxed.detector == "given" and boxed.box_xyxy == (175, 346, 265, 436)


def test_distance_refuses_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="128"):
        identity_distance([0.0] * 3, [0.0] * 3)
    with pytest.raises(ValueError, match="RGB uint8"):
        embed_face(np.zeros((10, 10), np.uint8))


def test_concurrent_callers_share_one_model_and_agree(astronaut, grace_hopper) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from candor.generator import identity

    images = [astronaut, grace_hopper] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(embed_face, images))

    # One set of models for the process, not one per thread (a copy is ~120 MB).
    def encoder_id(_: int) -> int:
        with identity._lock:
            return id(identity._models()["encoder"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert len(set(pool.map(encoder_id, range(8)))) == 1
    for image_result, again in zip(results[:2], results[2:4], strict=True):
        assert identity_distance(image_result.embedding, again.embedding) < 1e-6
