"""Plot one corpus utterance's curves (jawOpen, mouthClose, lip gap, blinks, brows, yaw, pitch) with phonemes.

python benchmarks/corpus_plot.py CORPUS_DIR [UTTERANCE_ID] [-o out/corpus_utterance.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from candor.generator import motion as M
from candor.training.corpus.build import read_manifest
from candor.training.corpus.visemes import lip_aperture, lip_gap_per_unit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("id", nargs="?", default=None)
    ap.add_argument("-o", "--out", type=Path, default=Path("out/corpus_utterance.png"))
    ap.add_argument("--seconds", type=float, default=6.0, help="plot at most this many seconds")
    args = ap.parse_args()
    entries = read_manifest(args.corpus)
    entry = next(e for e in entries if args.id in (None, e["id"]))
    with np.load(args.corpus / entry["file"]) as z:
        motion, mouth_open = z["motion"], z["mouth_open"]
        phonemes = json.loads(str(z["phonemes"]))
        sr, audio = int(z["sr"]), z["audio"].astype(np.float32) / 32768
    fps = entry["fps"]
    n = min(len(motion), int(args.seconds * fps))
    t = (np.arange(n) + 0.5) / fps
    fig, axes = plt.subplots(5, 1, figsize=(16, 11), sharex=True)
    ta = np.arange(min(len(audio), int(n / fps * sr))) / sr
    axes[0].plot(ta, audio[: len(ta)], lw=0.4, color="gray")
    axes[0].set_ylabel("audio")
    ax = axes[1]
    ax.plot(t, motion[:n, M.index("jawOpen")], "-o", ms=3, label="jawOpen")
    ax.plot(t, motion[:n, M.index("mouthClose")], "-o", ms=3, label="mouthClose")
    gap = lip_aperture(motion[:n]) / lip_gap_per_unit()["jawOpen"]
    ax.plot(t, gap, "k--", lw=1, label="lip gap (jawOpen units)")
    ax.plot(t, motion[:n, M.index("mouthPress")], label="mouthPress", alpha=0.6)
    ax.plot(t, mouth_open[:n], ":", label="mouth_open (viseme)")
    ax.plot(t, motion[:n, M.index("mouthPucker")], label="mouthPucker", alpha=0.6)
    ax.plot(t, motion[:n, M.index("mouthSmileLeft")], label="mouthSmileL", alpha=0.6)
    for s, e, p in phonemes:
        if s > n / fps:
            break
        bilabial = p in ("p", "b", "m")
        ax.axvspan(s, e, color="red" if bilabial else "none", alpha=0.12)
        ax.text((s + e) / 2, 1.02, p, ha="center", fontsize=8, color="red" if bilabial else "k")
        ax.axvline(s, color="k", lw=0.2)
    ax.set_ylim(-0.1, 1.1)
    ax.legend(loc="upper right", fontsize=7)
    axes[2].plot(t, motion[:n, M.index("eyeBlinkLeft")], "-o", ms=3, label="eyeBlinkLeft")
    axes[2].plot(t, motion[:n, M.index("browInnerUp")], label="browInnerUp")
    axes[2].plot(t, motion[:n, M.index("browOuterUpLeft")], label="browOuterUpLeft")
    axes[2].legend(loc="upper right", fontsize=7)
    for name in ("yaw", "pitch", "roll"):
        axes[3].plot(t, motion[:n, M.index(name)], label=f"{name} (deg)")
    axes[3].legend(loc="upper right", fontsize=7)
    for name in ("gazeYaw", "gazePitch"):
        axes[4].plot(t, motion[:n, M.index(name)], label=f"{name} (deg)")
    axes[4].legend(loc="upper right", fontsize=7)
    axes[4].set_xlabel("seconds")
    # The default font has no Devanagari/CJK glyphs: show non-Latin text by its language only.
    title_text = entry["text"][:120] if entry["text"].isascii() else f"({entry['language']} text)"
    fig.suptitle(
        f"{entry['id']} {entry['voice']} {entry['emotion']}:{entry['intensity']} "
        f"gaze=({entry['gaze_yaw']},{entry['gaze_pitch']}) dist={entry['distance']}\n{title_text}"
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
