"""Audio features of a clip: time from process start to features, and compute per call, numpy vs librosa.

Each run is a fresh Python process that loads a WAV of espeak-ng speech (``load_audio``) and
computes its features (``audio_features``), as ``candor generate`` does first:

- ``numpy``: the analysis in :mod:`candor.generator.dsp` (what the generator runs);
- ``librosa``: the same pipeline with the librosa 0.11 analysis it replaced
  (:func:`candor.training.librosa_features.raw_frames`, patched in), i.e. the code before;
- ``python + numpy``: a process that only imports numpy and loads the samples (the floor no
  feature code can go under).

Prints, per mode (median over ``--repeats`` processes, modes interleaved so load drifts hit both):
wall time from spawning the process to the features being ready, the import and first-call parts
of it, the process's CPU time up to then (less sensitive to the load of a shared machine), and
the warm compute time of one call (wall and CPU, median of 3 calls in the process);
which heavy modules the process had imported; and the largest difference between the two modes'
features of the same clip.

Usage: python benchmarks/audio_features_speed.py [--seconds 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TEXT = (
    "Good morning, and welcome back. Today we look at how the harbour changed over the last century, "
    "from the old fishing boats to the container ships that arrive every night."
)
HEAVY = ("librosa", "scipy.signal", "scipy.ndimage", "numba", "scipy.fft", "soxr")

# Runs in the child: every time is taken inside it except the spawn, which the parent adds.
CHILD = """
import json, sys, time
t_start = time.time()
mode, wav, out = sys.argv[1:4]
import numpy as np
if mode == "floor":
    import soundfile as sf
    samples, _ = sf.read(wav, dtype="float32")
    print(json.dumps({"ready": time.time(), "t_start": t_start, "cpu_ready": time.process_time()}))
    sys.exit()
from candor.generator import audio
if mode == "librosa":
    from candor.training import librosa_features
    audio._raw_frames = librosa_features.raw_frames
t_imported = time.time()
samples = audio.load_audio(wav, max_seconds=None)
t_loaded = time.time()
features = audio.audio_features(samples)
t_ready = time.time()
cpu_ready = time.process_time()
np.save(out, features)
walls, cpus = [], []
for _ in range(3):
    w, c = time.perf_counter(), time.process_time()
    audio.audio_features(samples)
    walls.append(time.perf_counter() - w)
    cpus.append(time.process_time() - c)
heavy = [m for m in HEAVY if m in sys.modules]
print(json.dumps({"t_start": t_start, "imported": t_imported, "loaded": t_loaded, "ready": t_ready,
                  "cpu_ready": cpu_ready, "warm_wall": sorted(walls)[1], "warm_cpu": sorted(cpus)[1], "heavy": heavy}))
"""


def speech_wav(seconds: float, path: Path) -> None:
    import soundfile as sf

    one = path.with_name("one.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(one), TEXT], check=True)
    y, sr = sf.read(one, dtype="float32")
    y = np.tile(y, int(np.ceil(seconds * sr / len(y))))[: int(seconds * sr)]
    sf.write(path, y, sr)


def run_child(mode: str, wav: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this tree's candor
    code = f"HEAVY = {HEAVY!r}\n{CHILD}"
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", code, mode, str(wav), str(out)],
                          capture_output=True, text=True, check=True, env=env)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["spawned"] = spawned
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    modes = ("numpy", "librosa", "floor")
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        speech_wav(args.seconds, wav)
        for r in range(args.repeats):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                runs[mode].append(run_child(mode, wav, Path(tmp) / f"{mode}.npy"))
        numpy_f, librosa_f = np.load(Path(tmp) / "numpy.npy"), np.load(Path(tmp) / "librosa.npy")
    load_after = os.getloadavg()

    def ms(mode: str, key: str, since: str | None = None) -> float:
        """Median over the mode's runs of run[key] - run[since], in ms."""
        return 1000 * float(np.median([run[key] - (run[since] if since else 0.0) for run in runs[mode]]))

    print(f"Audio features of {args.seconds:g} s of espeak-ng speech (16 kHz WAV), fresh process per run, "
          f"median of {args.repeats}; 2-core CPU, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")  # fmt: skip
    print(f"  {'mode':<15} {'start->features':>16} {'spawn->main':>12} {'imports':>8} {'load wav':>9} "
          f"{'1st call':>9} {'CPU to features':>16} {'warm call wall/CPU':>19}  heavy modules imported")  # fmt: skip
    for mode in ("librosa", "numpy"):
        heavy = sorted({m for run in runs[mode] for m in run["heavy"]})
        columns = [
            f"{ms(mode, 'ready', 'spawned'):>13.0f} ms",
            f"{ms(mode, 't_start', 'spawned'):>9.0f} ms",
            f"{ms(mode, 'imported', 't_start'):>5.0f} ms",
            f"{ms(mode, 'loaded', 'imported'):>6.0f} ms",
            f"{ms(mode, 'ready', 'loaded'):>6.0f} ms",
            f"{ms(mode, 'cpu_ready'):>13.0f} ms",
            f"{ms(mode, 'warm_wall'):>8.0f} / {ms(mode, 'warm_cpu'):.0f} ms",
        ]
        print(f"  {mode:<15} {' '.join(columns)}  {', '.join(heavy) or '-'}")
    print(f"  {'python + numpy':<15} {ms('floor', 'ready', 'spawned'):>13.0f} ms  (interpreter, numpy, "
          f"soundfile read: the floor; CPU {ms('floor', 'cpu_ready'):.0f} ms)")  # fmt: skip
    diff = np.abs(numpy_f - librosa_f)
    print(f"  features numpy vs librosa, same clip: shape {numpy_f.shape}, max |diff| {diff.max():.2e}, "
          f"mean {diff.mean():.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
