"""Decoder and analysis timings on one core.

Prints the median ms/frame of ``FaceRenderer.render`` at 512x512 (torch, OpenCV and numba held to
one thread) over a scripted motion (talking jaw, blinks, head turns, gaze), and the median
ms/image of ``analyze_image`` on the bundled portraits.

    .venv/bin/python benchmarks/render.py [--frames 200]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def scripted_motion(baseline: np.ndarray, frames: int) -> np.ndarray:
    """(frames, DIM) motion around the portrait's own: speech-like jaw, blinks, yaw/pitch sway, gaze."""
    from candor.generator import motion

    t = np.arange(frames) / 25.0
    v = np.tile(baseline.astype(np.float32), (frames, 1))
    v[:, motion.index("yaw")] += 15 * np.sin(2 * np.pi * t / 4.0)
    v[:, motion.index("pitch")] += 8 * np.sin(2 * np.pi * t / 3.1)
    v[:, motion.index("roll")] += 5 * np.sin(2 * np.pi * t / 5.3)
    v[:, motion.index("jawOpen")] = np.clip(0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t), 0, 1)
    blink = np.clip(1 - np.abs(((t % 2.0) - 1.0) / 0.12), 0, 1)
    v[:, motion.index("eyeBlinkLeft")] = blink
    v[:, motion.index("eyeBlinkRight")] = blink
    v[:, motion.index("gazeYaw")] = 20 * np.sin(2 * np.pi * t / 2.7)
    return v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()

    import cv2
    import numba
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    numba.set_num_threads(1)

    from extreme_motions import portraits

    from candor.generator.face import analyze_image
    from candor.generator.render import FaceRenderer
    from candor.generator.rig import pose_target

    images = portraits()
    analyze_image(images["astronaut"])  # mediapipe graph start-up is not per-image work
    analysis_ms, analysis_cpu = [], []
    sources = {}
    for _ in range(3):
        for name, image in images.items():
            t0, c0 = time.perf_counter(), time.process_time()
            sources[name] = analyze_image(image)
            analysis_cpu.append(1e3 * (time.process_time() - c0))
            analysis_ms.append(1e3 * (time.perf_counter() - t0))

    for name, source in sources.items():
        t0 = time.perf_counter()
        renderer = FaceRenderer(source)
        setup_ms = 1e3 * (time.perf_counter() - t0)
        targets = [pose_target(source, v) for v in scripted_motion(source.baseline, args.frames)]
        renderer.render(targets[0])  # numba kernels load from cache (or compile) on first use
        wall, cpu = [], []
        for target in targets:
            t0, c0 = time.perf_counter(), time.thread_time()
            renderer.render(target)
            cpu.append(1e3 * (time.thread_time() - c0))
            wall.append(1e3 * (time.perf_counter() - t0))
        wall, cpu = np.array(wall), np.array(cpu)
        # On a shared machine wall time includes waiting for a core; thread CPU time does not.
        print(
            f"decoder {name}: median {np.median(wall):.2f} ms/frame wall (p90 {np.percentile(wall, 90):.2f}), "
            f"{np.median(cpu):.2f} ms CPU, over {len(wall)} frames at 512x512, 1 thread "
            f"(per-portrait setup {setup_ms:.0f} ms)"
        )
    print(
        f"analysis: median {np.median(analysis_ms):.1f} ms/image wall, {np.median(analysis_cpu):.1f} ms CPU "
        f"(all threads) over {len(analysis_ms)} runs (framing, face mesh x2, detector, segmentation, pose fit)"
    )


if __name__ == "__main__":
    main()
