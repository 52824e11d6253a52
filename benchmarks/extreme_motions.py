"""Render the extreme-motion contact sheet of both bundled portraits to out/extremes.png.

Rows: astronaut (skimage) and Grace Hopper (matplotlib). Columns: the portrait's own pose, then yaw
-20/+20, pitch -15/+15, roll -10/+10 degrees (absolute), jawOpen 1.0, smile, blink, gaze left/right.

    .venv/bin/python benchmarks/extreme_motions.py [--out out/extremes.png] [--tile 256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CASES: list[tuple[str, dict[str, float]]] = [
    ("source pose", {}),
    ("yaw -20", {"yaw": -20.0}),
    ("yaw +20", {"yaw": 20.0}),
    ("pitch -15", {"pitch": -15.0}),
    ("pitch +15", {"pitch": 15.0}),
    ("roll -10", {"roll": -10.0}),
    ("roll +10", {"roll": 10.0}),
    ("jawOpen 1.0", {"jawOpen": 1.0}),
    ("smile", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("gaze left", {"gazeYaw": -25.0}),
    ("gaze right", {"gazeYaw": 25.0}),
]


def portraits() -> dict[str, np.ndarray]:
    """The two bundled public-domain portraits as RGB uint8 arrays."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return {"astronaut": data.astronaut(), "grace_hopper": hopper}


def motion_for(baseline: np.ndarray, changes: dict[str, float]) -> np.ndarray:
    """The portrait's own motion vector with the named fields set (absolute values)."""
    from candor.generator import motion

    v = baseline.astype(np.float32).copy()
    for name, value in changes.items():
        v[motion.index(name)] = value
    return v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/extremes.png"))
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()

    from candor.generator.contact import save_contact_sheet
    from candor.generator.face import analyze_image
    from candor.generator.render import FaceRenderer
    from candor.generator.rig import pose_target

    frames, labels = [], []
    for name, image in portraits().items():
        source = analyze_image(image)
        renderer = FaceRenderer(source)
        for label, changes in CASES:
            target = pose_target(source, motion_for(source.baseline, changes))
            frames.append(renderer.render(target))
            labels.append(f"{name}: {label}")
    path = save_contact_sheet(args.out, frames, labels, columns=len(CASES) // 2, tile=args.tile)
    print(f"wrote {path} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
