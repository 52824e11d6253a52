"""Live generation figures: a ``candor`` server and a live client on this machine.

    .venv/bin/python benchmarks/live.py                 # 20 s of speech
    .venv/bin/python benchmarks/live.py --seconds 60    # the issue's minute
    .venv/bin/python benchmarks/live.py --seconds 60 --before /work/main --rounds 2   # before vs after

1. A throw-away data directory (bench_world: an approved partner, a consent, the enrolled
   astronaut portrait) and ``uvicorn candor.api.app:create_app`` on 127.0.0.1 (API only).
2. espeak-ng speech (several voices, sentences with pauses) of ``--seconds``, streamed by
   :class:`candor.client.LiveClient` in 20 ms PCM16 chunks at real-time pace: each chunk goes out
   once its audio has been "spoken", as from a microphone.
3. Prints: the time from sending the first audio chunk to receiving the first frame (the audio
   look-ahead, compute, watermark, JPEG and transport included); sustained frames per second over
   the session; each frame's lag behind its audio (received minus when the audio up to the frame's
   end was sent), max and p99; and lip sync of the streamed frames against the offline path's
   frames of the same clip, both measured end to end as ``benchmarks/lipsync_e2e.py`` does
   (mediapipe FaceMesh re-tracks the inner-lip gap from the pixels; Pearson r with the audio's log
   energy at the best lag within +-5 frames).
4. The recording is downloaded and verified (``candor verify``'s checks: credentials + watermark).
5. CPU time per frame per stage of a live session, in this process, each stage on one thread
   (user + system from ``getrusage(RUSAGE_THREAD)``; load-independent, unlike the wall clock):
   features + motion (20 ms chunks through the live motion stream), render, watermark, JPEG, and
   the recording's x264 (one thread, as the session runs it).

With ``--before DIR`` a second server runs that checkout's code on the same data directory and
the sessions alternate (before, after, before, after...), each preceded by the load average and
the CPU this process could get then ("cores free"); lip sync is measured on each server's last
session (until 2026-12-06 only the last session run, which with ``--before`` was the before
server's, was measured and printed as this checkout's). The client, the servers and the tracker share
the machine's two cores, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_load import StageCPU, machine

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring your notebook to the next lesson.",
    "We measured the river every morning for a month.",
    "Bright lamps lit the long hall where the choir sang.",
    "Maybe the best part of the trip was the boat ride home.",
    "Numbers can tell a story if you ask them the right questions.",
)
VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3")


def speech(seconds: float, work: Path) -> np.ndarray:
    """espeak-ng sentences in turn (rotating voices, 0.4 s pauses) up to ``seconds``: 16 kHz mono."""
    from candor.generator.audio import load_audio

    parts, total, i = [], 0, 0
    while total < seconds * 16000:
        wav = work / f"s{i}.wav"
        voice, text = VOICES[i % len(VOICES)], SENTENCES[i % len(SENTENCES)]
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text], check=True, capture_output=True)
        parts += [load_audio(wav, None), np.zeros(6400, np.float32)]
        total += len(parts[-2]) + 6400
        i += 1
    return np.concatenate(parts)[: int(seconds * 16000)]


def track(frames) -> np.ndarray:  # frames: an iterable of (512, 512, 3) RGB
    from lipsync_e2e import Tracker

    tracker = Tracker()
    try:
        gap = np.array([tracker.measure(f)[0] for f in frames])
    finally:
        tracker.close()
    bad = ~np.isfinite(gap)
    if bad.any() and not bad.all():
        gap[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), gap[~bad])
    return gap


def stage_cpu(pipe, audio: np.ndarray, work: Path) -> dict[str, tuple[float, float]]:
    """ms of (user, system) CPU per frame per live stage, each run on this thread in turn."""
    import cv2

    from candor.generator.live import MotionStream
    from candor.generator.video import VideoWriter
    from candor.provenance.watermark import WatermarkEmbedder, WatermarkKey
    from candor.services.live import JPEG_QUALITY

    cpu = StageCPU()
    stream = MotionStream(pipe.generator)
    embedder = WatermarkEmbedder(WatermarkKey.from_bytes(b"benchmark-key-benchmark-key-0000"), 1)
    frames = 0
    with VideoWriter(work / "stages.mp4", fps=25, threads=1) as writer:  # as LiveRecording's
        for i in range(0, len(audio), 320):
            with cpu.stage("features + motion"):
                vectors = stream.push(audio[i : i + 320])
            for v in vectors:
                with cpu.stage("render"):
                    frame = pipe.render(v)
                with cpu.stage("watermark"):
                    marked = embedder.embed(frame)
                with cpu.stage("JPEG"):
                    cv2.imencode(".jpg", marked[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                with cpu.stage("x264 (recording)", process=True):
                    writer.write(marked)
                frames += 1
    return cpu.per_frame_ms(frames)


def report_session(result, audio: np.ndarray) -> None:
    """First frame, sustained rate and each frame's lag behind its audio, with where the late ones fall."""
    frames = result.frames
    print(f"  closed {result.close_code} {result.close_reason}; {len(frames)} frames")
    first_sent = result.sent[0][0]
    print(f"  first audio chunk sent -> first frame received: {1000 * (frames[0].received_at - first_sent):.0f} ms")
    span = frames[-1].received_at - frames[0].received_at
    print(f"  sustained: {(len(frames) - 1) / span:.1f} frames/s over {span:.1f} s (the audio runs at 25)")
    lags = []
    for f in frames:
        sent_at = result.audio_sent_at(min((f.index + 1) / 25, len(audio) / 16000))
        lags.append(f.received_at - sent_at)
    lags_ms = 1000 * np.array(lags)
    print(
        f"  frame lag behind its audio (received - its audio's end sent): max {lags_ms.max():.0f} ms, "
        f"p99 {np.percentile(lags_ms, 99):.0f} ms, median {np.median(lags_ms):.0f} ms; "
        f"frames later than 200 ms: {int((lags_ms > 200).sum())} of {len(lags_ms)}"
    )
    blocks = np.array_split(lags_ms, max(1, len(lags_ms) // 250))
    print(f"  lag by 10 s block, max ms: {[int(b.max()) for b in blocks]}")
    late = np.flatnonzero(lags_ms > np.percentile(lags_ms, 98))
    print(f"  the 2% latest frames: {late.tolist()[:40]}; by index mod 25 (the quota second): "
          f"{np.bincount(late % 25, minlength=25).tolist()}; "
          f"mod 2 (the window): {np.bincount(late % 2, minlength=2).tolist()}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of speech to stream (issue: 60)")
    parser.add_argument("--chunk-ms", type=int, default=20)
    parser.add_argument("--before", type=Path, help="a checkout whose server's sessions alternate with this one's")
    parser.add_argument("--rounds", type=int, default=1, help="sessions per server")
    args = parser.parse_args()

    import cv2
    import httpx
    from api_load import free_port, start_server, stop_server, wait_ready
    from bench_world import seed_world
    from lipsync_e2e import best_r, log_energy

    from candor import services
    from candor.client import LiveClient
    from candor.config import Settings
    from candor.services.container import Container

    work = Path(tempfile.mkdtemp(prefix="candor-live-bench-"))
    servers: dict[str, subprocess.Popen] = {}
    try:
        state = Container.build(Settings(data_dir=work, environment="development"))
        state.migrate()
        world = seed_world(state, work, partner_name="Live Bench", speech="Hello.")
        with state.session_factory() as session:
            token = services.issue_api_key(
                session=session, log=state.ledger, partner_id=world.partner_id, scopes="generate"
            ).token
        audio = speech(args.seconds, work)
        # One server per checkout (this one, and --before's); their sessions alternate.
        codes = {"after": Path(__file__).resolve().parent.parent}
        if args.before:
            codes["before"] = args.before.resolve()
        clients = {}
        for name, code in codes.items():
            port = free_port()
            servers[name] = start_server(work, port, 1, code)
            wait_ready(port, servers[name])
            clients[name] = LiveClient(f"ws://127.0.0.1:{port}/v1/live", token), port
            # A short warm-up session (first-call costs: imports, model load, numba, x264).
            clients[name][0].run(audio[:16000], consent_id=world.consent_id, portrait_id=world.portrait_id,
                                 realtime=False)  # fmt: skip
        print(f"machine: {os.cpu_count()} CPU cores; {len(audio) / 16000:.1f} s of speech in {args.chunk_ms} ms chunks")
        last = {}  # each server's last session
        for r in range(args.rounds):
            for name, code in codes.items():
                load = machine(1.0)
                last[name] = clients[name][0].run(
                    audio, consent_id=world.consent_id, portrait_id=world.portrait_id, chunk_s=args.chunk_ms / 1000
                )
                print(f"round {r + 1}, {name} ({code}); before it: {load}")
                report_session(last[name], audio)
        result, port = last["after"], clients["after"][1]

        # Lip sync: each server's streamed frames vs this checkout's offline frames of the same clip
        # and portrait.
        from candor.generator.face import analyze_image
        from candor.generator.pipeline import TalkingFacePipeline

        with state.session_factory() as session:
            from candor.store.models import Portrait

            portrait = session.get(Portrait, world.portrait_id)
            image = state.files.path(portrait.image_sha256).read_bytes()
        pipe = TalkingFacePipeline.for_portrait(analyze_image(image))
        offline = track(pipe.frames(audio, seed=0))
        energy = log_energy(audio, len(offline))
        r_off, lag_off = best_r(offline, energy)
        for name, session_result in last.items():
            jpegs = (f.jpeg for f in session_result.frames)
            streamed = track(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1] for j in jpegs)
            r_live, lag_live = best_r(streamed[: len(offline)], energy[: len(streamed)])
            print(
                f"lip sync ({name}'s last session), r(inner-lip gap, log energy): "
                f"streamed {r_live:.3f} (lag {lag_live}), "
                f"offline (this checkout) {r_off:.3f} (lag {lag_off}); difference {r_off - r_live:+.3f}"
            )

        recorded = result.recorded
        video = httpx.get(
            f"http://127.0.0.1:{port}{recorded['video']}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        path = work / "recording.mp4"
        path.write_bytes(video.content)
        report = state.verifier.verify_file(path)
        print(f"recording (this checkout's last session): {recorded['frames']} frames, "
              f"{len(video.content) / 1e6:.1f} MB; verify: {report.verdict}")  # fmt: skip

        stream_s = min(20.0, len(audio) / 16000)
        stages = stage_cpu(pipe, audio[: int(stream_s * 16000)], work)
        print(f"CPU per frame per live stage ({stream_s:.0f} s, one stage at a time, this process), ms user + system:")
        for name, (user, system) in stages.items():
            print(f"  {name:18s} {user:5.2f} + {system:4.2f}")
        total = sum(sum(v) for v in stages.values())
        print(f"  total              {total:5.2f} ms a frame = {total * 25 / 10:.0f}% of one core at 25 fps")
    finally:
        for server in servers.values():
            stop_server(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    start = time.monotonic()
    main()
    print(f"({time.monotonic() - start:.0f} s in all)")
