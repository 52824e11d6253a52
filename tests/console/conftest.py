"""Browser fixtures: a real uvicorn server (with the job worker) on a free loopback port, Debian's
chromium driven by Playwright, axe-core run in each page, screenshots under out/console-screens/."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from api_helpers import Admin, make_settings

CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """(base URL, app) of a real server running the production job handler."""
    import uvicorn

    from candor.api.app import create_app

    app = create_app(make_settings(tmp_path_factory.mktemp("console-browser")), start_worker=True)
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the console server did not start")
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        instance.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def admin(server) -> Admin:  # type: ignore[no-untyped-def]
    return Admin(server[1])


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("chromium is required (make install puts Debian's chromium in place)")
    with sync_playwright() as playwright:
        # A fake microphone (a beeping tone) that needs no permission prompt: the recording flow.
        fake_media = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", *fake_media])
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    """A fresh browser context (its own cookies) at a laptop width; CSP violations fail the test."""
    context = browser.new_context(base_url=server[0], viewport={"width": 1100, "height": 800})
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not violations, violations


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real media on disk for the file inputs: a consent PDF, the astronaut photo, espeak-ng speech,
    and a plain (never generated) video of a real photo panning."""
    import subprocess

    import av
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("console-media")
    fig = plt.figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "I consent to being animated.")
    fig.savefig(folder / "consent.pdf", format="pdf")
    plt.close(fig)
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(folder / "hello.wav"), "Hello from the console."],
        check=True,
        capture_output=True,
    )
    still = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320)))
    with av.open(str(folder / "plain.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i in range(50):  # 2 s of a slow pan over the photo
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(still[i : i + 256, i : i + 256]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return {name: folder / name for name in ("consent.pdf", "astronaut.png", "hello.wav", "plain.mp4")}
