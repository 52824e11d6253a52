"""Seconds to scan a 60 s 512x512 video with ``candor detect`` (credentials, watermark, classifier).

The clip is made here: a Candor render of the astronaut (10 s of a scripted performance, looped to
60 s to save rendering time), encoded H.264 CRF 23 with no credentials, so every stage runs: the
C2PA read, the watermark decode (first 20 s) and the classifier at its sampling rate. Prints the
total and the split between provenance and classifier, wall-clock and this process's CPU time
(the machine is shared: CPU time is the steadier figure). Goal: <= 10 s on a 2-core CPU.

Usage: ``python benchmarks/detector_speed.py [--seconds 60] [--runs 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, seconds: float) -> Path:
    from skimage.data import astronaut

    from candor.generator.animator import Animator, relative_to_source
    from candor.generator.face import analyze_image
    from candor.generator.performance import scripted_offsets
    from candor.training.detector_dataset import encode

    source = analyze_image(astronaut())
    animator = Animator(source)
    loop = [animator.frame(v) for v in relative_to_source(source, scripted_offsets(10.0, 25, seed=1))]
    frames = [
        loop[i % len(loop)] if (i // len(loop)) % 2 == 0 else loop[-1 - i % len(loop)]
        for i in range(round(seconds * 25))
    ]
    return encode(frames, path, fps=25, crf=23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    from candor.config import Settings
    from candor.detector import verdict
    from candor.detector.features import extract_video
    from candor.detector.model import load_classifier
    from candor.services.container import Container

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", environment="development")
        clip = make_clip(Path(tmp) / "clip.mp4", args.seconds)
        classifier = load_classifier()
        container = Container.build(settings)  # creates the dev keys: once per process, not a scan cost
        container.migrate()
        verifier = container.verifier
        verifier.verify_file(clip)  # first use makes the watermark secret and opens the database
        for run in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            report = verdict.detect_video(clip, verifier=verifier, classifier=classifier)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU for {report.video['duration_s']:.0f} s "
                f"{report.video['width']}x{report.video['height']}: {report.label} "
                f"({report.classifier.samples} face samples)"
            )
        t0 = time.perf_counter()
        verifier.verify_file(clip)
        provenance = time.perf_counter() - t0
        t0 = time.perf_counter()
        features = extract_video(clip, sample_fps=classifier.sample_fps)
        extract = time.perf_counter() - t0
        t0 = time.perf_counter()
        classifier.sample_logits(features)
        model = time.perf_counter() - t0
        print(
            f"split: provenance (C2PA + watermark) {provenance:.2f} s, "
            f"decode + face mesh {extract:.2f} s, model {model:.2f} s"
        )
        container.close()


if __name__ == "__main__":
    main()
