"""Real media for the provenance tests (imported by conftest.py and the tests; a unique module name
so it cannot collide with another directory's helpers under pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PASSPHRASE = "correct horse battery staple"


def make_talking_mp4(path: Path, wav: Path, *, seconds: float = 2.0, size: int = 256, fps: int = 25) -> Path:
    """An H.264 + AAC MP4: the astronaut's face region drifting a few pixels per frame, with speech."""
    import av
    import cv2
    import skimage.data
    import soundfile as sf

    image = skimage.data.astronaut()
    face = cv2.resize(image[0:300, 100:400], (size + 32, size + 32), interpolation=cv2.INTER_AREA)
    samples, rate = sf.read(str(wav), dtype="float32")
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast"}
        audio = out.add_stream("aac", rate=rate)
        for i in range(round(seconds * fps)):
            dx = int(16 + 10 * np.sin(i / 9.0))
            dy = int(16 + 6 * np.cos(i / 13.0))
            frame = np.ascontiguousarray(face[dy : dy + size, dx : dx + size])
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        clip = samples[: int(seconds * rate)]
        chunk = av.AudioFrame.from_ndarray(clip[None, :], format="flt", layout="mono")
        chunk.sample_rate = rate
        for packet in audio.encode(chunk):
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path
