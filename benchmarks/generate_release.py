"""`candor generate` speed and memory: the issue's offline figures, before and after, on this machine.

    .venv/bin/python benchmarks/generate_release.py                  # 60 s and 120 s clips
    .venv/bin/python benchmarks/generate_release.py --seconds 60      # one length
    .venv/bin/python benchmarks/generate_release.py --before /work/main   # "before" CLI = that checkout

For each clip length (espeak-ng speech, the bundled astronaut portrait), prints:

1. ``candor generate`` run as its own process (as a user runs it: imports, portrait analysis,
   model load, frames, watermark, H.264/AAC, C2PA signing, the log entry), ``--cli-runs`` times
   (median printed): its wall clock, its CPU time (user / system) and its **peak memory** (max
   RSS from ``wait4``: the largest of the process and its children), which must stay flat in the
   clip's length (goal <= 1 GB at 60 s and at 120 s). With ``--before DIR`` the same command
   from another checkout (e.g. the main branch) runs next to it, interleaved.
2. The release path in this (warm) process, interleaved with the sequential loop it replaced
   (render, watermark and encode one after another on the caller's thread, x264 in this process
   with its own threads, motion beside it): frames per second, wall clock, from the first frame
   asked for to the signed file (goal >= 100), CPU per frame (the encoder process's included) and
   the cores it got; **libx264 alone** encoding the same frames (the first ``--x264-frames`` of
   them, kept as they were made) with the release path's settings, in the same run (the faster of
   x264's default threads and one thread, as the release path runs it, measured right before and
   right after the release path and averaged: the machine's speed drifts); the ratio of the two
   (goal >= 0.5), per round and its median. The release path's x264 runs on one thread, which
   changes the bitstream, so its frames are compared with the sequential loop's by PSNR. (An
   earlier middle loop, the encoder on a thread of this process, went when the release path
   stopped marking on a thread of its own.)
3. CPU time per frame per stage, each stage run alone on this thread (user + system, from
   ``getrusage(RUSAGE_THREAD)``): motion (features + DDIM), render, watermark, x264 (the
   encoder's own threads counted by the process's time around it).

The machine is shared: each figure comes with the load average and with the CPU this process
could get at that moment (two spinning threads for 2 s: "cores free"). Linux's autogroup
scheduler shares the CPU between sessions whatever their nice values, so other engineers' niced
jobs still take their share; the CPU times travel, the wall clocks are a floor.
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
from machine_load import StageCPU, machine

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


def run_command(audio: Path, work: Path, code: Path) -> dict[str, float]:
    """``candor generate`` of the checkout ``code`` in a child process: wall s, user s, system s, peak RSS MB."""
    env = {**os.environ, "CANDOR_DATA_DIR": str(work / "data"), "CANDOR_ENVIRONMENT": "development",
           "PYTHONPATH": str(code)}  # fmt: skip
    cmd = [sys.executable, "-m", "candor.cli", "generate", "--image", "bundled:astronaut",
           "--audio", str(audio), "-o", str(work / "cli.mp4")]  # fmt: skip
    # Run from the checkout itself: `python -m` puts the working directory ahead of PYTHONPATH.
    done = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True, cwd=code)
    if done.returncode != 0:
        raise SystemExit(f"candor generate failed: {done.stderr}")
    wall, user, system, rss_mb = map(float, done.stdout.split())
    return {"wall": wall, "user": user, "sys": system, "rss_mb": rss_mb}


# The in-process loops, in the order each round runs them.
LOOPS = {
    "sequential": "sequential loop",
    "process": "release path   ",
}


def _cpu_seconds() -> float:
    """This process's CPU and its waited-for children's (the encoder process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def release_in_process(state, pipe, samples: np.ndarray, audio: Path, work: Path, keep: int, *,
                       loop: str = "process"):  # fmt: skip
    """The release path (as ``candor generate``): (frames, wall s, CPU s, kept frames, output).

    ``loop``: "process", the release path; "sequential", each frame rendered, watermarked and
    encoded in turn on this thread, x264 in this process
    (motion still beside it), then signed alike. Each run takes the next watermark serial of
    ``state``'s repository."""
    from candor.generator.controls import Controls

    kept: list[np.ndarray] = []

    def tap(frames):
        for frame in frames:
            if len(kept) < keep:
                kept.append(frame.copy())
            yield frame

    png = (work / "portrait.png").read_bytes()
    claim = state.releaser.claim(generation_id=f"bench-{uuid.uuid4().hex[:8]}")
    out = work / f"{loop}.mp4"
    cpu, start = _cpu_seconds(), time.perf_counter()
    frames = tap(pipe.frames(samples, Controls(), seed=0))
    serial = state.releaser.manifests.allocate_serial(generation_id=claim.generation_id)
    if loop == "sequential":
        n = sequential_release(state.releaser, frames, out, claim, png, audio, serial)
    else:
        n = state.releaser.release_frames(frames, out_path=out, fps=25, claim=claim, portrait=png,
                                          audio_path=audio, serial=serial).frames  # fmt: skip
    return n, time.perf_counter() - start, _cpu_seconds() - cpu, kept, out


def sequential_release(releaser, frames, out: Path, claim, png: bytes, audio: Path, serial: int) -> int:
    """The release path's loop before the encoder got a process of its own (same watermark, x264 and signing)."""
    from dataclasses import replace

    from candor.files import temp_path_beside
    from candor.generator.video import VideoWriter
    from candor.provenance.watermark import WatermarkEmbedder

    embedder = WatermarkEmbedder(releaser.watermark_key, serial)
    unsigned = temp_path_beside(out)
    try:
        with VideoWriter(unsigned, fps=25, audio_path=audio) as writer:
            for frame in frames:
                writer.write(embedder.embed(frame))
        releaser._sign_and_publish(
            unsigned, out, claim=replace(claim, title=out.name), serial=serial, portrait=png,
            portrait_mime="image/png", audio=audio.read_bytes(), audio_mime="audio/wav",
        )  # fmt: skip
    finally:
        unsigned.unlink(missing_ok=True)
    return writer.frames_written


def psnr(a: Path, b: Path) -> float:
    """PSNR (dB) between two videos' decoded frames, over the frames they share."""
    from candor.generator.video import read_frames

    mse = [np.mean((x.astype(np.float32) - y) ** 2) for x, y in zip(read_frames(a), read_frames(b), strict=True)]
    return float(10 * np.log10(255**2 / max(np.mean(mse), 1e-12)))


def x264_alone(frames: list[np.ndarray], work: Path, threads: int = 0) -> float:
    """Frames per second of libx264 alone over ``frames``, with the release path's crf and preset
    (``threads``: x264's own, 0 = its default, 1 = one thread as the release path runs it)."""
    from candor.generator.video import VideoWriter

    start = time.perf_counter()
    with VideoWriter(work / "x264.mp4", fps=25, threads=threads) as writer:  # the release path's crf and preset
        for frame in frames:
            writer.write(frame)
    return len(frames) / (time.perf_counter() - start)


def x264_fastest(frames: list[np.ndarray], work: Path) -> float:
    """x264 alone at its fastest: its own threads, or one as the release path runs it."""
    return max(x264_alone(frames, work), x264_alone(frames, work, threads=1))


def stage_cpu(pipe, samples: np.ndarray, work: Path, n: int) -> dict[str, tuple[float, float]]:
    """ms of (user, system) CPU per frame per stage, each stage on this thread in turn."""
    from candor.generator.video import VideoWriter
    from candor.provenance.watermark import WatermarkEmbedder, WatermarkKey

    cpu = StageCPU()
    with cpu.stage("motion"):
        vectors = list(pipe.motion(samples[: n * 640]))
    embedder = WatermarkEmbedder(WatermarkKey.from_bytes(b"benchmark-key-benchmark-key-0000"), 1)
    with VideoWriter(work / "stages.mp4", fps=25) as writer:
        for v in vectors:
            with cpu.stage("render"):
                frame = pipe.render(v)
            with cpu.stage("watermark"):
                marked = embedder.embed(frame)
            with cpu.stage("x264", process=True):  # x264's own threads count too
                writer.write(marked)
    return cpu.per_frame_ms(len(vectors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 120.0])
    parser.add_argument("--x264-frames", type=int, default=250, help="frames kept for the x264-alone figure")
    parser.add_argument("--stage-frames", type=int, default=500, help="frames for the per-stage CPU times")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved before/after rounds in this process")
    parser.add_argument("--before", type=Path, help="a checkout whose `candor generate` runs beside this one's")
    parser.add_argument("--no-cli", action="store_true", help="skip the own-process `candor generate` runs")
    parser.add_argument("--cli-runs", type=int, default=3, help="own-process `candor generate` runs per checkout")
    args = parser.parse_args()

    import skimage.data
    from PIL import Image

    from candor.config import Settings
    from candor.generator.audio import load_audio
    from candor.generator.face import analyze_image
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.services.container import Container

    here = Path(__file__).resolve().parent.parent
    work = Path(tempfile.mkdtemp(prefix="candor-generate-bench-"))
    try:
        Image.fromarray(skimage.data.astronaut()).save(work / "portrait.png")
        # One database per loop, the same keys: the loops take the same serials in turn, so their
        # videos carry the same watermark and can be compared pixel for pixel.
        states = {}
        for loop in LOOPS:
            states[loop] = Container.build(
                Settings(data_dir=work / "data", database_url=f"sqlite:///{work}/bench-{loop}.db",
                         environment="development")
            )  # fmt: skip
            states[loop].migrate()
        pipe = TalkingFacePipeline.for_portrait(analyze_image(work / "portrait.png"))
        print(f"machine: {os.cpu_count()} CPU cores (shared), {machine()} at the start")
        for seconds in args.seconds:
            audio = speech_wav(seconds, work / f"speech{seconds:g}.wav")
            samples = load_audio(audio, None)
            print(f"{seconds:g} s clip:")
            codes = [("after", here)] + ([("before", args.before.resolve())] if args.before else [])
            walls: dict[str, list[float]] = {name: [] for name, _ in codes}
            n = int(seconds * 25)
            # Interleaved, --cli-runs times: a single run moves by several per cent with the machine.
            for _ in range(0 if args.no_cli else args.cli_runs):
                for name, code in codes:
                    cli = run_command(audio, work, code)
                    walls[name].append(cli["wall"])
                    print(f"  candor generate, {name} ({code}), own process, start to signed file: "
                          f"{cli['wall']:.1f} s wall = {n / cli['wall']:.0f} frames/s; CPU user {cli['user']:.1f} s, "
                          f"system {cli['sys']:.1f} s; "
                          f"peak memory {cli['rss_mb']:.0f} MB (goal <= 1024); {machine()}")  # fmt: skip
            for name, runs in walls.items():
                if runs:
                    print(
                        f"  candor generate, {name}: median {np.median(runs):.2f} s = "
                        f"{n / np.median(runs):.0f} frames/s over {len(runs)} runs (goal >= 100 at 60 s)"
                    )
            if seconds == args.seconds[0]:  # warm every stage once (numba, x264, signing)
                for loop in LOOPS:
                    release_in_process(states[loop], pipe, samples[: 2 * 16000], audio, work, 0, loop=loop)
            kept: list[np.ndarray] = []
            outs = {}
            ratios = []
            for r in range(args.rounds):
                for loop, name in LOOPS.items():
                    # x264 alone brackets the release path (right before and right after, on the same
                    # frames): this machine's speed drifts by tens of per cent within a minute.
                    x264_before = x264_fastest(kept, work) if loop == "process" and kept else None
                    load = machine()
                    n, wall, cpu, frames, outs[loop] = release_in_process(
                        states[loop], pipe, samples, audio, work, args.x264_frames if not kept else 0, loop=loop
                    )  # fmt: skip
                    kept = kept or frames
                    print(f"  round {r + 1} {name}: {n / wall:5.0f} frames/s wall clock (goal >= 100), "
                          f"{1000 * cpu / n:.1f} ms CPU per frame, {cpu / wall:.2f} cores used; "
                          f"before it: {load}")  # fmt: skip
                    if loop == "process":
                        x264_after = x264_fastest(kept, work)
                        x264 = x264_after if x264_before is None else (x264_before + x264_after) / 2
                        ratios.append(n / wall / x264)
                        print(f"          libx264 alone on the first {len(kept)} of these frames, same crf and "
                              f"preset, the faster of its default threads and one, right before / after: "
                              f"{x264_before or 0:.0f} / {x264_after:.0f} frames/s; end to end / x264 alone = "
                              f"{ratios[-1]:.2f} (goal >= 0.5)")  # fmt: skip
            print(f"  end to end / x264 alone over the {len(ratios)} rounds: median {np.median(ratios):.2f}, "
                  f"range {min(ratios):.2f}-{max(ratios):.2f}")  # fmt: skip
            for threads in (0, 1):
                print(f"  libx264 alone, threads={threads}: {x264_alone(kept, work, threads=threads):.0f} frames/s")
            print(f"  the release path (x264 on one thread) against the sequential loop: "
                  f"PSNR {psnr(outs['process'], outs['sequential']):.1f} dB; {machine()}")  # fmt: skip
            del kept
        stages = stage_cpu(pipe, samples, work, args.stage_frames)
        print(f"CPU per frame per stage, one stage at a time ({args.stage_frames} frames), ms user + system:")
        for name, (user, system) in stages.items():
            print(f"  {name:9s} {user:5.2f} + {system:4.2f}")
        total = sum(sum(v) for v in stages.values())
        print(f"  total     {total:5.2f} ms -> {1000 / total:.0f} frames/s on one free core, "
              f"{2000 / total:.0f} on two if the stages split evenly; {machine()}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
