import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from candor.generator.face import analyze_image

    return analyze_image(astronaut)


@pytest.fixture(scope="session")
def grace_face(grace_hopper):
    from candor.generator.face import analyze_image

    return analyze_image(grace_hopper)
