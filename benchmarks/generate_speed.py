"""Generation speed on this CPU: motion cost, end-to-end frame rate, streaming first-frame latency.

Prints:
- motion: milliseconds of compute per second of audio (features + windowed DDIM sampling);
- end-to-end frames/s at 512x512 in a warm process: motion + rendering (goal >= 45 fps), and the
  same with H.264 encoding to an MP4 (no watermark/signing: those belong to the release path);
- streaming: first-frame latency in a warm process (goal <= 170 ms; aim 100): the compute time
  from the arrival of the audio chunk that completes the first window to the first rendered frame,
  and the audio that must have arrived by then (the algorithmic look-ahead).

Usage: python benchmarks/generate_speed.py [--checkpoint PT] [--seconds S] [--portrait astronaut]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from candor.generator.audio import iter_chunks, load_audio
from candor.generator.controls import SAMPLE_RATE, Controls
from candor.generator.motion_generator import MIN_WINDOW, MotionGenerator

TEXT = (
    "Good morning, and welcome back. Today we look at how the harbour changed over the last century, "
    "from the old fishing boats to the container ships that arrive every night."
)


def speech(seconds: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), TEXT], check=True)
        one = load_audio(path, max_seconds=None)
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(one)))
    return np.tile(one, reps)[: int(seconds * SAMPLE_RATE)]


def portrait(name: str):
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    if name == "astronaut":
        return skimage.data.astronaut()
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
        return np.asarray(img.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--portrait", default="astronaut", choices=("astronaut", "grace_hopper"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread per stage: motion in one, rendering in the other

    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.generator.video import VideoWriter

    audio = speech(args.seconds)
    gen = MotionGenerator.from_checkpoint(args.checkpoint)
    source = analyze_image(portrait(args.portrait))
    pipe = TalkingFacePipeline.for_portrait(source, args.checkpoint)
    controls = Controls()
    # Warm up every stage (torch kernels, numba renderer) once.
    list(pipe.frames(audio[: 2 * SAMPLE_RATE], controls))

    # 1. Motion alone.
    times = []
    for r in range(args.repeats):
        t = time.perf_counter()
        seq = gen.generate(audio, controls, seed=r)
        times.append(time.perf_counter() - t)
    motion_ms_per_s = 1000 * np.median(times) / args.seconds
    steps = gen.defaults.steps

    # CPU time (load-independent on a shared machine): motion per frame, rendering per frame.
    c = time.process_time()
    seq = gen.generate(audio, controls, seed=0)
    motion_cpu_ms = 1000 * (time.process_time() - c) / len(seq)
    c = time.process_time()
    for vector in seq.values[:200]:
        pipe.render(vector)
    render_cpu_ms = 1000 * (time.process_time() - c) / min(200, len(seq))

    # 2. End to end, frames in memory only, then with H.264 encoding.
    fps_runs = []
    for r in range(args.repeats):
        t = time.perf_counter()
        n = sum(1 for _ in pipe.frames(audio, controls, seed=r))
        fps_runs.append(n / (time.perf_counter() - t))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(Path(tmp) / "o.mp4", fps=25, preset="ultrafast", crf=20) as writer:
            for frame in pipe.frames(audio, controls, seed=0):
                writer.write(frame)
        enc_fps = writer.frames_written / (time.perf_counter() - t)

    # 3. Streaming: chunks of 40 ms arrive (instantly here); time each pull of the first frame.
    latencies, lookahead = [], []
    for r in range(max(5, args.repeats)):
        arrived = {"samples": 0, "t_last": 0.0}

        def chunks(arrived=arrived):
            for c in iter_chunks(audio, 0.04):
                arrived["samples"] += len(c)
                arrived["t_last"] = time.perf_counter()
                yield c

        frames = pipe.stream(chunks(), SAMPLE_RATE, controls, seed=r)
        next(frames)
        latencies.append(1000 * (time.perf_counter() - arrived["t_last"]))
        lookahead.append(1000 * arrived["samples"] / SAMPLE_RATE)
        frames.close()

    print(f"Generation speed (shared 2-core CPU, torch threads 1, {args.seconds:g} s of espeak-ng speech, "
          f"{steps} DDIM steps/window, checkpoint step {gen.loaded.step})")  # fmt: skip
    print(f"  motion: {motion_ms_per_s:.1f} ms per second of audio ({len(seq)} frames in {np.median(times):.2f} s)")
    print(f"  CPU time per frame: motion {motion_cpu_ms:.2f} ms, render {render_cpu_ms:.2f} ms -> "
          f"{1000 / max(motion_cpu_ms, render_cpu_ms):.0f} frames/s pipelined on two free cores, "
          f"{1000 / (motion_cpu_ms + render_cpu_ms):.0f} on one")  # fmt: skip
    print(f"  end to end 512x512 (motion + render), wall clock: {np.median(fps_runs):.1f} frames/s (goal >= 45)")
    print(f"  end to end incl. H.264 encode (ultrafast), wall clock: {enc_fps:.1f} frames/s")
    print(f"  streaming first-frame latency (warm): median {np.median(latencies):.0f} ms, "
          f"max {np.max(latencies):.0f} ms (goal <= 170, aim 100)")  # fmt: skip
    print(f"    audio needed before the first frame: {np.median(lookahead):.0f} ms "
          f"(first window of {MIN_WINDOW} frames + analysis look-ahead)")  # fmt: skip


if __name__ == "__main__":
    main()
