"""`candor generate` speed and memory: the issue's offline figures, on this machine.

    .venv/bin/python benchmarks/generate_release.py                  # 60 s and 120 s clips
    .venv/bin/python benchmarks/generate_release.py --seconds 60      # one length

For each clip length (espeak-ng speech, the bundled astronaut portrait), prints:

1. ``candor generate`` run as its own process (as a user runs it: imports, portrait analysis,
   model load, frames, watermark, H.264/AAC, C2PA signing, the log entry): its wall clock, its
   CPU time (user / system) and its **peak memory** (max RSS from ``wait4``), which must stay
   flat in the clip's length (goal <= 1 GB at 60 s and at 120 s).
2. The release path in this (warm) process, the same code as the command: frames per second,
   wall clock, from the first frame asked for to the signed file (goal >= 100), and **libx264
   alone** encoding the same frames (the first ``--x264-frames`` of them, kept as they were
   made) with the same settings, in the same run; the ratio of the two (goal >= 0.5).
3. CPU time per frame per stage, each stage run alone on this thread (user + system, from
   ``getrusage(RUSAGE_THREAD)``): motion (features + DDIM), render, watermark, x264 (the
   encoder's own threads counted by the process's time around it).

The machine is shared by other engineers: wall clock figures are a floor, the CPU times travel.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

TEXT = (
    "Good morning, and welcome back. Today we look at how the harbour changed over the last century, "
    "from the old fishing boats to the container ships that arrive every night."
)


def speech_wav(seconds: float, path: Path) -> Path:
    """``seconds`` of espeak-ng speech (one paragraph repeated, 0.4 s pauses) as a 16 kHz WAV."""
    import soundfile as sf

    from candor.generator.audio import load_audio

    one = path.with_suffix(".one.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(one), TEXT], check=True, capture_output=True)
    x = np.concatenate([load_audio(one, None), np.zeros(6400, np.float32)])
    sf.write(path, np.resize(x, int(seconds * 16000)), 16000, subtype="PCM_16")
    return path


# A child's max RSS counts the memory of the process it was forked from (Linux keeps the pre-exec
# high-water mark), so the command is started by a small Python that reports its child's peak.
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
if code.returncode:
    sys.exit(code.stderr.decode()[-2000:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, u.ru_utime, u.ru_stime, u.ru_maxrss / 1024)
"""


def run_command(audio: Path, work: Path) -> dict[str, float]:
    """``candor generate`` in a child process: wall s, user s, system s, peak RSS MB."""
    env = {**os.environ, "CANDOR_DATA_DIR": str(work / "data"), "CANDOR_ENVIRONMENT": "development"}
    cmd = [sys.executable, "-m", "candor.cli", "generate", "--image", "bundled:astronaut",
           "--audio", str(audio), "-o", str(work / "cli.mp4")]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"candor generate failed: {done.stderr}")
    wall, user, system, rss_mb = map(float, done.stdout.split())
    return {"wall": wall, "user": user, "sys": system, "rss_mb": rss_mb}


def release_in_process(state, pipe, samples: np.ndarray, audio: Path, work: Path, keep: int):
    """The release path (as ``candor generate``): (frames, wall s, process CPU s, kept frames)."""
    from candor.generator.controls import Controls

    kept: list[np.ndarray] = []

    def tap(frames):
        for frame in frames:
            if len(kept) < keep:
                kept.append(frame.copy())
            yield frame

    png = (work / "portrait.png").read_bytes()
    claim = state.releaser.claim(generation_id=f"bench-{uuid.uuid4().hex[:8]}")
    cpu, start = time.process_time(), time.perf_counter()
    result = state.releaser.release_frames(
        tap(pipe.frames(samples, Controls(), seed=0)), out_path=work / "release.mp4", fps=25, claim=claim,
        portrait=png, audio_path=audio,
    )  # fmt: skip
    return result.frames, time.perf_counter() - start, time.process_time() - cpu, kept


def x264_alone(frames: list[np.ndarray], work: Path) -> float:
    """Frames per second of libx264 alone over ``frames``, with the release path's settings."""
    from candor.generator.video import VideoWriter

    start = time.perf_counter()
    with VideoWriter(work / "x264.mp4", fps=25) as writer:  # the release path's crf, preset, threads
        for frame in frames:
            writer.write(frame)
    return len(frames) / (time.perf_counter() - start)


def stage_cpu(pipe, samples: np.ndarray, work: Path, n: int) -> dict[str, tuple[float, float]]:
    """ms of (user, system) CPU per frame per stage, each stage on this thread in turn."""
    from candor.generator.video import VideoWriter
    from candor.provenance.watermark import WatermarkEmbedder, WatermarkKey

    def usage(who: int = resource.RUSAGE_THREAD) -> np.ndarray:
        u = resource.getrusage(who)
        return np.array([u.ru_utime, u.ru_stime])

    spent = {k: np.zeros(2) for k in ("motion", "render", "watermark", "x264")}
    t = usage()
    vectors = list(pipe.motion(samples[: n * 640]))
    spent["motion"] += usage() - t
    embedder = WatermarkEmbedder(WatermarkKey.from_bytes(b"benchmark-key-benchmark-key-0000"), 1)
    with VideoWriter(work / "stages.mp4", fps=25) as writer:
        for v in vectors:
            t = usage()
            frame = pipe.render(v)
            spent["render"] += usage() - t
            t = usage()
            marked = embedder.embed(frame)
            spent["watermark"] += usage() - t
            t = usage(resource.RUSAGE_SELF)  # x264's own threads count too
            writer.write(marked)
            spent["x264"] += usage(resource.RUSAGE_SELF) - t
    return {k: tuple(1000 * v / len(vectors)) for k, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 120.0])
    parser.add_argument("--x264-frames", type=int, default=250, help="frames kept for the x264-alone figure")
    parser.add_argument("--stage-frames", type=int, default=500, help="frames for the per-stage CPU times")
    args = parser.parse_args()

    import skimage.data
    from PIL import Image

    from candor.config import Settings
    from candor.generator.audio import load_audio
    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.services.container import Container

    work = Path(tempfile.mkdtemp(prefix="candor-generate-bench-"))
    try:
        Image.fromarray(skimage.data.astronaut()).save(work / "portrait.png")
        state = Container.build(Settings(data_dir=work / "data", environment="development"))
        state.migrate()
        pipe = TalkingFacePipeline.for_portrait(analyze_image(work / "portrait.png"))
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} CPU cores, load average {load:.1f} at the start (shared)")
        for seconds in args.seconds:
            audio = speech_wav(seconds, work / f"speech{seconds:g}.wav")
            samples = load_audio(audio, None)
            cli = run_command(audio, work)
            if seconds == args.seconds[0]:  # warm every stage once (numba, x264, signing)
                release_in_process(state, pipe, samples[: 2 * 16000], audio, work, 0)
            n, wall, cpu, kept = release_in_process(state, pipe, samples, audio, work, args.x264_frames)
            x264_fps = x264_alone(kept, work)
            del kept
            fps = n / wall
            print(f"{seconds:g} s clip ({n} frames of 512x512):")
            print(f"  candor generate (own process, start to signed file): {cli['wall']:.1f} s wall = "
                  f"{n / cli['wall']:.0f} frames/s; CPU user {cli['user']:.1f} s, system {cli['sys']:.1f} s; "
                  f"peak memory {cli['rss_mb']:.0f} MB (goal <= 1024)")  # fmt: skip
            print(f"  release path, warm: {fps:.0f} frames/s wall clock (goal >= 100), "
                  f"{1000 * cpu / n:.1f} ms CPU per frame (all threads)")  # fmt: skip
            print(f"  libx264 alone, same settings, same run, on the first {args.x264_frames} of these frames: "
                  f"{x264_fps:.0f} frames/s; "
                  f"end to end / x264 alone = {fps / x264_fps:.2f} (goal >= 0.5)")  # fmt: skip
            print(f"  load average now {os.getloadavg()[0]:.1f}")
        stages = stage_cpu(pipe, samples, work, args.stage_frames)
        print(f"CPU per frame per stage, one stage at a time ({args.stage_frames} frames), ms user + system:")
        for name, (user, system) in stages.items():
            print(f"  {name:9s} {user:5.2f} + {system:4.2f}")
        total = sum(sum(v) for v in stages.values())
        print(f"  total     {total:5.2f} ms -> {1000 / total:.0f} frames/s on one free core, "
              f"{2000 / total:.0f} on two if the stages split evenly")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
