"""Batch detector scan throughput: videos per minute serially and on Ray with 1 and 2 CPUs, on this
machine (`candor detect-batch`'s code path: candor.services.batch.scan_videos).

    PYTHONPATH=. .venv/bin/python benchmarks/batch_scan.py                 # 12 videos of 4 s
    PYTHONPATH=. .venv/bin/python benchmarks/batch_scan.py --videos 24 --seconds 4

The folder is made here: half Candor renders of the astronaut (a scripted performance, encoded CRF 23
with no credentials, so the C2PA read, the watermark decode and the classifier all run) and half
a filmed still of Grace Hopper (handheld camera, CRF 23); the two clips are copied to make
``--videos`` files. Each run scans the same folder with a fresh executor: a local Ray (``ray.init``
with 1 or 2 CPUs, its start-up time printed apart and not counted) or this process. A run's wall time
includes each worker process loading the classifier and mediapipe once: the per-process cost an
operator pays per scan, spread over the videos a worker gets.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def make_folder(folder: Path, videos: int, seconds: float) -> None:
    from skimage.data import astronaut

    from candor.generator.animator import Animator, relative_to_source
    from candor.generator.face import analyze_image
    from candor.generator.performance import scripted_offsets
    from candor.training.detector_dataset import (
        Identity,
        augment,
        camera_frames,
        encode,
        load_identity_image,
    )

    source = analyze_image(astronaut())
    animator = Animator(source)
    fake = [animator.frame(v) for v in relative_to_source(source, scripted_offsets(seconds, 25, seed=1))]
    still = analyze_image(load_identity_image(Identity("grace_hopper", "grace_hopper", "test", "photo"))).image
    rng = np.random.default_rng(3)
    real = augment(camera_frames(still, rng, seconds, 25), rng, handheld_p=1.0)
    clips = [
        encode(fake, folder / "src-fake.mp4", fps=25, crf=23),
        encode(real, folder / "src-real.mp4", fps=25, crf=23),
    ]
    for i in range(videos):
        shutil.copy(clips[i % 2], folder / f"video{i:03d}.mp4")
    for clip in clips:
        clip.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()

    from candor.config import Settings
    from candor.executors import RayExecutor, SerialExecutor
    from candor.services.batch import ScanRecipe, list_videos, scan_videos
    from candor.services.container import Container

    work = Path(tempfile.mkdtemp(prefix="candor-batch-bench-"))
    try:
        container = Container.build(Settings(data_dir=work / "data", environment="development"))
        container.migrate()
        recipe = ScanRecipe.from_container(container)
        folder = work / "videos"
        folder.mkdir()
        make_folder(folder, args.videos, args.seconds)
        videos = list_videos(str(folder))
        print(f"{len(videos)} videos of {args.seconds:g} s (512x512 renders and 320-640 px filmed clips, CRF 23)")
        runs = [("serial", None), ("Ray, 1 CPU", 1), ("Ray, 2 CPUs", 2)]
        for name, cpus in runs:
            started = time.perf_counter()
            executor = SerialExecutor() if cpus is None else RayExecutor("local", num_cpus=cpus)
            startup = time.perf_counter() - started
            with executor:
                summary = scan_videos(videos, recipe=recipe, executor=executor, keep_rows=True)
            per_video = np.mean([r["seconds"] for r in summary.rows])
            print(
                f"{name:12s} {summary.videos_per_minute:6.1f} videos/minute  ({summary.wall_s:6.1f} s; "
                f"{per_video:.2f} s per video in a worker; start-up {startup:.1f} s not counted)  "
                f"{summary.by_verdict}"
            )
        container.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
