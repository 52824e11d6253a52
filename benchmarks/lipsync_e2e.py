"""End-to-end lip sync on held-out real voices: render, re-track the pixels, score against the audio.

For each portrait x held-out real speaker (the ``val`` split of ``candor corpus real``: speakers
never trained on), one clip is rendered three ways through the same renderer:

- ``model``: the motion model (``--checkpoint``, the shipped one by default; several
  checkpoints, ``--checkpoint NAME=PT ...``, give one method each, ``model:NAME``);
- ``still``: the portrait's own pose and expression on every frame;
- ``loud``: a trivial baseline, jaw opening = the audio's loudness and nothing else moves;
- ``labels`` (aligned clips only): the training labels themselves (the current rules,
  ``visemes.DEFAULT_RULES``), made from the alignment: what a model that learned its labels
  perfectly would show (the ceiling of the label rules; ``label_ceiling.py`` computes it without
  rendering, for every rule set).

An independent tracker (mediapipe FaceMesh on the output pixels, tracking mode) measures the
inner-lip gap over face height and the eyes' opening. Per pair and method it prints:

- ``r_E``: Pearson r of the measured opening with the audio's log RMS energy per frame, at the
  best lag within +-5 frames, and ``lag`` (> 0: the mouth moves after the sound);
- ``r_E-b``: the same r on the frames outside the /p b m/ segments (+-1 frame) and outside /h/,
  at the lag of ``r_E``. Loudness and lip opening part ways exactly there: the lips are shut on a
  voiced, loud /m/ or /b/ and open on a quiet /h/, so a face that closes its lips on bilabials
  loses r_E for it, and a floor on r_E alone rewards not closing them. ``r_E-b`` is the figure
  that holds the face to the voice without that penalty. Segments come from the alignment, or
  for the phone-loop speakers from the phone loop (less exact, still the best estimate there);
- ``r_ph``: r with the aligned phoneme-opening truth, where an alignment exists (English), at the
  same lag search. The truth is ``openness.opening_truth``: a fixed phonetic table per phone held
  for its aligned interval, no coarticulation; it used to be the label rules' own lip aperture,
  which graded the labels (and a model trained on them) against themselves;
- ``bil``: the share of aligned /p b m/ on which the lips visibly close (the gap at some frame of
  the bilabial +-1 frame falls to within ``CLOSED_MARGIN`` face heights of the portrait's rest);
- ``blink/min``: eye closures seen by the tracker (both eyes under half their open height).

``--live`` adds each model through the live path (``generator.live.MotionStream``: the audio pushed
in 20 ms chunks as a live session receives it, the live window schedule and DDIM steps) as method
``NAME-live``, and prints the offline figures minus the live ones, pair by pair.

Then a summary with the issue's goals. A separate long clip per portrait (``--long-seconds``,
model only) measures blinks over a minute.

``--motion-only`` skips rendering and scores the motion model alone on every held-out utterance
(up to ``--max-utts`` per speaker): generated jawOpen vs log energy, generated lip aperture vs
the corpus labels' (aligned, or phone-loop where no transcript exists), for the audio as recorded
and for a telephone-channel copy (8 kHz band, noise): how much the audio front end cares.

    python benchmarks/lipsync_e2e.py --corpus out/corpus-real [--checkpoint PT] [--seconds 12]
        [--portraits 6] [--long-seconds 60] [--live] [--json out/lipsync_e2e.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FPS = 25
MAX_LAG = 5
CLOSED_MARGIN = 0.012  # face heights above the rest gap that still count as closed lips (~3 px at 512)
# mediapipe FaceMesh indices: inner lips, face top/bottom, eyelids and eye corners.
UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152
EYES = ((159, 145, 33, 133), (386, 374, 362, 263))  # (upper lid, lower lid, corner, corner)
HOP = 16000 // FPS


# --------------------------------------------------------------------------------------------
# Clips: held-out speakers' utterances joined into one clip with its phoneme truth
# --------------------------------------------------------------------------------------------


@dataclass
class Clip:
    speaker: str
    language: str
    audio: np.ndarray  # 16 kHz
    phonemes: list[tuple[float, float, str]] | None  # aligned ARPAbet, None if not aligned throughout
    phones: list[tuple[float, float, str]] | None = None  # aligned or phone-loop ARPAbet (for r_E-b)

    @property
    def frames(self) -> int:
        return -(-len(self.audio) * FPS // 16000)


def held_out_clips(corpus: Path, seconds: float, gap: float = 0.3) -> list[Clip]:
    """One clip per held-out speaker: its utterances in order, joined with ``gap`` s of silence."""
    from candor.training.corpus.real import iter_rows

    by_speaker: dict[str, list[dict]] = {}
    for row in iter_rows(corpus, split="val"):
        by_speaker.setdefault(row["voice"], []).append(row)
    clips = []
    for speaker, rows in sorted(by_speaker.items()):
        # Prefer utterances of a few seconds (sentences, not single digits).
        rows = sorted(rows, key=lambda r: (r["duration_s"] < 1.5, r["id"]))
        parts, phonemes, t, aligned = [], [], 0.0, True
        for row in rows:
            if t >= seconds:
                break
            with np.load(corpus / row["file"]) as z:
                audio = z["audio"].astype(np.float32) / 32768.0
                ph = json.loads(str(z["phonemes"]))
            aligned &= row.get("labels") == "aligned"
            phonemes += [(s + t, e + t, p) for s, e, p in ph] + [
                (t + len(audio) / 16000, t + len(audio) / 16000 + gap, "_")
            ]
            parts += [audio, np.random.default_rng(0).normal(0, 3e-4, int(gap * 16000)).astype(np.float32)]
            t += len(audio) / 16000 + gap
        clips.append(Clip(speaker, rows[0]["language"], np.concatenate(parts), phonemes if aligned else None, phonemes))
    return clips


def long_clip(clips: list[Clip], seconds: float) -> np.ndarray:
    """A clip of ``seconds`` cycling through the held-out clips' audio (for the blink rate)."""
    audio = np.concatenate([c.audio for c in clips])
    return np.tile(audio, int(np.ceil(seconds * 16000 / len(audio))))[: int(seconds * 16000)]


# --------------------------------------------------------------------------------------------
# Portraits: the two bundled photos and painted / stylized versions of them
# --------------------------------------------------------------------------------------------


def portraits() -> dict[str, np.ndarray]:
    """Candidate portraits in order: 2 photos, then both as a cartoon (cv2.stylization), an oil
    painting, a colour pencil drawing and a flat-colour poster, then the mirrored photos."""
    import cv2
    from extreme_motions import portraits as photos

    base = photos()
    out: dict[str, np.ndarray] = dict(base)
    styles = {
        "cartoon": lambda img: cv2.stylization(img, sigma_s=60, sigma_r=0.45),
        "oil": lambda img: cv2.cvtColor(cv2.xphoto.oilPainting(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), 3, 1),
                                        cv2.COLOR_BGR2RGB),
        "pencil": lambda img: cv2.pencilSketch(img, sigma_s=40, sigma_r=0.08, shade_factor=0.05)[1],
        # flat colours, 6 levels per channel, over an edge-preserving smoothing
        "poster": lambda img: (cv2.edgePreservingFilter(img, flags=cv2.RECURS_FILTER, sigma_s=60, sigma_r=0.4)
                               // 48 * 48 + 24).astype(np.uint8),
    }  # fmt: skip
    for style, make in styles.items():
        for name, img in base.items():
            out[f"{name}-{style}"] = make(img)
    for name, img in base.items():
        out[f"{name}-mirrored"] = np.ascontiguousarray(img[:, ::-1])
    return out


# --------------------------------------------------------------------------------------------
# Motion for each method
# --------------------------------------------------------------------------------------------


def log_energy(audio: np.ndarray, frames: int) -> np.ndarray:
    """(frames,) log RMS energy of 16 kHz audio per 40 ms video frame."""
    x = np.pad(audio, (0, max(0, frames * HOP - len(audio))))[: frames * HOP].reshape(frames, HOP)
    return np.log(np.sqrt((x.astype(np.float64) ** 2).mean(axis=1)) + 1e-5)


def loudness_motion(audio: np.ndarray, frames: int) -> np.ndarray:
    """The baseline: relative motion with jawOpen = loudness (40 dB under the loud level -> closed)."""
    from candor.generator import motion as M

    db = 20 * np.log10(np.exp(log_energy(audio, frames)))
    jaw = np.clip((db - (np.percentile(db, 95) - 40)) / 40, 0, 1) * 0.7
    m = np.tile(M.neutral_vector(), (frames, 1))
    m[:, M.index("jawOpen")] = jaw
    return m


def truth_motion(clip: Clip, rules=None) -> np.ndarray | None:
    """(frames, DIM) the corpus's labels from the aligned phonemes (neutral controls), if aligned.

    ``rules``: a ``visemes.Rules`` (default: the one the corpus builders use now).
    """
    if clip.phonemes is None:
        return None
    from candor.generator.controls import Controls
    from candor.training.corpus.labels import motion_labels
    from candor.training.corpus.nonverbal import Style

    motion, _ = motion_labels(clip.audio, clip.phonemes, Controls(), Style.for_speaker(clip.speaker),
                              np.random.default_rng(0), "arpa", rules)  # fmt: skip
    return motion[: clip.frames]


# --------------------------------------------------------------------------------------------
# Render and track
# --------------------------------------------------------------------------------------------


class Tracker:
    """mediapipe FaceMesh in tracking mode: per frame (inner-lip gap, eye opening) / face height."""

    def __init__(self) -> None:
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )

    def measure(self, frame: np.ndarray) -> tuple[float, float]:
        result = self.mesh.process(frame)
        if not result.multi_face_landmarks:
            return np.nan, np.nan
        p = np.array([(q.x, q.y) for q in result.multi_face_landmarks[0].landmark]) * frame.shape[1::-1]
        height = np.linalg.norm(p[FOREHEAD] - p[CHIN])
        gap = (p[LOWER_LIP, 1] - p[UPPER_LIP, 1]) / height
        eyes = [np.linalg.norm(p[u] - p[lo]) / np.linalg.norm(p[a] - p[b]) for u, lo, a, b in EYES]
        return float(gap), float(np.mean(eyes))

    def close(self) -> None:
        self.mesh.close()


def render_and_track(pipe, relative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Render every relative motion frame and track it: (gap (T,), eye opening (T,))."""
    tracker = Tracker()
    try:
        out = np.array([tracker.measure(pipe.render(v)) for v in relative])
    finally:
        tracker.close()
    gap, eye = out[:, 0], out[:, 1]
    for x in (gap, eye):  # a lost frame takes its neighbour's value
        bad = ~np.isfinite(x)
        if bad.all():
            x[:] = 0.0
        elif bad.any():
            x[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), x[~bad])
    return gap, eye


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def best_r(measured: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """(r, lag) maximizing corr(measured[t + lag], reference[t]) within +-MAX_LAG frames."""
    best, best_lag = np.nan, 0
    for lag in range(-MAX_LAG, MAX_LAG + 1):
        a = measured[lag:] if lag >= 0 else measured[:lag]
        b = reference[: len(reference) - lag] if lag >= 0 else reference[-lag:]
        if a.std() < 1e-9 or b.std() < 1e-9:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if not r <= best:  # also replaces the initial nan
            best, best_lag = r, lag
    return best, best_lag


def bilabial_closed(gap: np.ndarray, rest_gap: float, phonemes: list[tuple[float, float, str]]) -> float:
    """Share of aligned /p b m/ segments whose measured gap falls to rest + CLOSED_MARGIN."""
    from candor.training.corpus.visemes import viseme_sequence

    hits = []
    for s, e, sym in phonemes:
        if sym == "_" or viseme_sequence(sym, "arpa") != ["PP"]:
            continue
        a, b = max(0, int(s * FPS) - 1), min(len(gap), int(np.ceil(e * FPS)) + 1)
        if a < b:
            hits.append(gap[a:b].min() <= rest_gap + CLOSED_MARGIN)
    return float(np.mean(hits)) if hits else np.nan


def blinks_per_minute(eye: np.ndarray) -> float:
    """Closures (both eyes under half their median opening), counted once each, per minute."""
    closed = eye < 0.5 * np.median(eye)
    onsets = np.count_nonzero(closed[1:] & ~closed[:-1]) + int(closed[0])
    return onsets / (len(eye) / FPS / 60)


def articulation_mask(phones: list[tuple[float, float, str]] | None, frames: int) -> np.ndarray:
    """(frames,) True on frames where lip opening and loudness are expected to part: /p b m/
    (lips shut, often voiced and loud) +-1 frame, and /h/ (open and quiet)."""
    from candor.training.corpus.visemes import viseme_sequence

    mask = np.zeros(frames, bool)
    for s, e, sym in phones or []:
        if sym == "_":
            continue
        if viseme_sequence(sym, "arpa") == ["PP"] or sym.lower().rstrip("012") == "hh":
            mask[max(0, int(s * FPS) - 1) : min(frames, int(np.ceil(e * FPS)) + 1)] = True
    return mask


def r_at_lag(measured: np.ndarray, reference: np.ndarray, lag: int, keep: np.ndarray) -> float:
    """corr(measured[t + lag], reference[t]) over the frames t where ``keep``."""
    n = len(reference)
    t = np.flatnonzero(keep[: n - max(lag, 0)] if lag >= 0 else keep)
    t = t[(t + lag >= 0) & (t + lag < len(measured))]
    a, b = measured[t + lag], reference[t]
    return float(np.corrcoef(a, b)[0, 1]) if len(t) > 2 and a.std() > 1e-9 and b.std() > 1e-9 else np.nan


def score(gap: np.ndarray, eye: np.ndarray, energy: np.ndarray, truth: np.ndarray | None, clip: Clip,
          rest_gap: float) -> dict:  # fmt: skip
    r_e, lag = best_r(gap, energy)
    out = {"r_E": r_e, "lag": lag, "blinks_per_min": blinks_per_minute(eye)}
    if clip.phones is not None:
        out["r_E_nobil"] = r_at_lag(gap, energy, lag, ~articulation_mask(clip.phones, len(energy)))
    if truth is not None:
        out["r_ph"], out["lag_ph"] = best_r(gap, truth)
        out["bilabials_closed"] = bilabial_closed(gap, rest_gap, clip.phonemes)
    return out


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


def motion_only(corpus: Path, checkpoint: Path | None, max_utts: int, seed: int) -> None:
    """Motion model alone on held-out real utterances, as recorded and over a telephone channel."""
    from candor.generator import motion as M
    from candor.generator.motion_generator import MotionGenerator
    from candor.training.corpus.real import iter_rows
    from candor.training.corpus.visemes import lip_aperture
    from candor.training.motion_trainer import telephone_channel

    gen = MotionGenerator.from_checkpoint(checkpoint)
    by_speaker: dict[str, list[dict]] = {}
    for row in iter_rows(corpus, split="val"):
        if row["duration_s"] >= 1.5:  # sentences: a single word says little about sync
            by_speaker.setdefault(row["voice"], []).append(row)
    print(f"motion model alone, checkpoint {checkpoint or 'shipped'} (mean over utterances)")
    print(f"{'speaker':22} {'labels':10} {'n':>3} {'r_E':>6} {'r_lab':>6} {'r_E tel':>8} {'r_lab tel':>9}")
    for speaker, rows in sorted(by_speaker.items()):
        rows = rows[:: max(1, len(rows) // max_utts)][:max_utts]
        res = []
        for row in rows:
            with np.load(corpus / row["file"]) as z:
                audio = z["audio"].astype(np.float32) / 32768.0
                truth = lip_aperture(z["motion"].astype(np.float32))
            n = len(truth)
            energy = log_energy(audio, n)
            out = []
            for a in (audio, telephone_channel(audio, seed)):
                m = gen.generate(a, seed=seed).values[:n]
                out += [best_r(m[:, M.index("jawOpen")], energy)[0], best_r(lip_aperture(m), truth)[0]]
            res.append(out)
        v = np.nanmean(np.array(res, float), axis=0)
        how = rows[0].get("labels", "-")
        print(f"{speaker:22} {how:10} {len(rows):3d} {v[0]:6.3f} {v[1]:6.3f} {v[2]:8.3f} {v[3]:9.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("out/corpus-real"))
    parser.add_argument(
        "--checkpoint", nargs="*", default=None, help="PT, or NAME=PT ... (several: one method each, model:NAME)"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="clip length per held-out speaker")
    parser.add_argument("--portraits", type=int, default=6)
    parser.add_argument("--long-seconds", type=float, default=60.0, help="blink clip per portrait (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--motion-only", action="store_true", help="score the motion model alone, no rendering")
    parser.add_argument("--max-utts", type=int, default=20, help="utterances per speaker for --motion-only")
    parser.add_argument(
        "--label-rules",
        nargs="*",
        default=None,
        help="render the labels of these rule sets (visemes.RULES; default: the current one)",
    )
    parser.add_argument("--skip-model", action="store_true", help="no motion model: baselines and labels only")
    parser.add_argument(
        "--live", action="store_true", help="also each model through the live path (method NAME-live), vs offline"
    )
    args = parser.parse_args()
    checkpoints = parse_checkpoints(args.checkpoint)
    if args.motion_only:
        for path in checkpoints.values():
            motion_only(args.corpus, path, args.max_utts, args.seed)
        return

    import torch

    torch.set_num_threads(1)
    from candor.errors import NoFaceFound
    from candor.generator.face import analyze_image
    from candor.generator.live import stream_clip
    from candor.generator.motion import neutral_vector
    from candor.generator.motion_generator import MotionGenerator
    from candor.generator.pipeline import TalkingFacePipeline
    from candor.generator.render import FaceRenderer
    from candor.training.corpus.openness import opening_truth

    started = time.perf_counter()
    clips = held_out_clips(args.corpus, args.seconds)
    if not clips:
        raise SystemExit(f"no held-out speakers in {args.corpus}: build it with `candor corpus real`")
    gens = {} if args.skip_model else {name: MotionGenerator.from_checkpoint(p) for name, p in checkpoints.items()}
    gen = next(iter(gens.values()), None) or MotionGenerator.from_checkpoint(None)  # the pipeline's own
    motions = {name: {c.speaker: g.generate(c.audio, seed=args.seed).values[: c.frames] for c in clips}
               for name, g in gens.items()}  # fmt: skip
    if args.live:
        motions |= {f"{name}-live": {c.speaker: stream_clip(g, c.audio, seed=args.seed)[: c.frames] for c in clips}
                    for name, g in gens.items()}  # fmt: skip
    from candor.training.corpus.visemes import DEFAULT_RULES, RULES

    label_rules = {name: RULES[name] for name in args.label_rules} if args.label_rules else {"": DEFAULT_RULES}
    print("checkpoints " + ", ".join(f"{n}: {p or 'shipped'}" for n, p in checkpoints.items()) + "; clips: "
          + ", ".join(f"{c.speaker} ({c.language}, {len(c.audio) / 16000:.1f} s{', aligned' if c.phonemes else ''})"
                      for c in clips))  # fmt: skip
    rows = []
    header = (
        f"{'portrait':22} {'speaker':22} {'method':13} {'r_E':>6} {'lag':>4} {'r_E-b':>6} {'r_ph':>6} {'bil':>5} "
        f"{'blink/min':>9}"
    )
    print(header)
    used = 0
    for pname, image in portraits().items():
        if used == args.portraits:
            break
        try:
            source = analyze_image(image)
        except NoFaceFound:
            print(f"{pname}: no face found by the analysis, skipped")
            continue
        used += 1
        pipe = TalkingFacePipeline(source, FaceRenderer(source), gen)
        rest_gap = float(render_and_track(pipe, np.tile(neutral_vector(), (3, 1)))[0].mean())
        for clip in clips:
            energy = log_energy(clip.audio, clip.frames)
            labels = {name: truth_motion(clip, r) for name, r in label_rules.items()}
            times = (np.arange(clip.frames) + 0.5) / FPS
            truth = None if clip.phonemes is None else opening_truth(clip.phonemes, times)
            methods = {
                **{name: m[clip.speaker] for name, m in motions.items()},
                "still": np.tile(neutral_vector(), (clip.frames, 1)),
                "loud": loudness_motion(clip.audio, clip.frames),
            }
            if clip.phonemes is not None:
                methods |= {f"labels-{name}" if len(labels) > 1 else "labels": m for name, m in labels.items()}
            for method, relative in methods.items():
                gap, eye = render_and_track(pipe, relative)
                s = score(gap, eye, energy, truth, clip, rest_gap)
                rows.append(
                    {"portrait": pname, "speaker": clip.speaker, "language": clip.language, "method": method, **s}
                )
                r_ph, bil = s.get("r_ph", np.nan), s.get("bilabials_closed", np.nan)
                print(f"{pname:22} {clip.speaker:22} {method:13} {s['r_E']:6.3f} {s['lag']:4d} "
                      f"{s.get('r_E_nobil', np.nan):6.3f} {r_ph:6.3f} {bil:5.2f} {s['blinks_per_min']:9.1f}",
                      flush=True)  # fmt: skip
        long_methods = [(name, g, False) for name, g in gens.items()]
        long_methods += [(f"{name}-live", g, True) for name, g in gens.items()] if args.live else []
        for name, g, live in long_methods if args.long_seconds > 0 else ():
            audio = long_clip(clips, args.long_seconds)
            relative = stream_clip(g, audio, seed=args.seed) if live else g.generate(audio, seed=args.seed).values
            _, eye = render_and_track(pipe, relative)
            rows.append({"portrait": pname, "speaker": "long", "method": f"{name}-long",
                         "seconds": args.long_seconds, "blinks_per_min": blinks_per_minute(eye)})  # fmt: skip
            print(f"{pname:22} {'(long clip)':22} {name:13} {'':>6} {'':>4} {'':>6} {'':>6} {'':>5} "
                  f"{blinks_per_minute(eye):9.1f}  over {args.long_seconds:.0f} s", flush=True)  # fmt: skip
    summarize(rows, list(gens))
    if args.live:
        live_vs_offline(rows, list(gens))
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


def live_vs_offline(rows: list[dict], models: list[str]) -> None:
    """Per model: the live path's figures minus the offline path's, pair by pair (the live issue's
    goal: streamed lip sync within 0.05 of offline)."""
    by = {(r["method"], r["portrait"], r["speaker"]): r for r in rows}
    for name in models:
        pairs = [(r, by[(name, r["portrait"], r["speaker"])]) for r in rows if r["method"] == f"{name}-live"]
        for key in ("r_E", "r_E_nobil", "r_ph", "bilabials_closed"):
            d = np.array([off[key] - live[key] for live, off in pairs if key in live and key in off], float)
            d = d[np.isfinite(d)]
            if len(d):
                print(f"  {name} offline - live, {key}: mean {d.mean():+.3f}, pairs [{d.min():+.3f} .. {d.max():+.3f}]")


def parse_checkpoints(specs: list[str] | None) -> dict[str, Path | None]:
    """``--checkpoint`` values -> {method name: path (None: the shipped one)}."""
    if not specs:
        return {"model": None}
    named = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        named[name or Path(path).parent.name or Path(path).stem] = None if path == "shipped" else Path(path)
    return {"model": next(iter(named.values()))} if len(named) == 1 else {f"model:{n}": p for n, p in named.items()}


def summarize(rows: list[dict], models: list[str]) -> None:
    """Per method: range of r_E, mean r_ph and bilabial share, |lag|, blink range; then the goals."""
    print("\nsummary (mean [min-max] over pairs)")
    for method in dict.fromkeys(r["method"] for r in rows if not r["method"].endswith("-long")):
        sel = [r for r in rows if r["method"] == method]
        if not sel:
            continue

        def stat(key: str, rs: list[dict] = sel) -> str:
            v = np.array([r[key] for r in rs if key in r and np.isfinite(r[key])], float)
            return f"{v.mean():.3f} [{v.min():.3f}-{v.max():.3f}]" if len(v) else "-"

        print(f"  {method:13} r_E {stat('r_E')}  r_E-b {stat('r_E_nobil')}  r_ph {stat('r_ph')}  "
              f"bilabials closed {stat('bilabials_closed')}  |lag| max {max(abs(r['lag']) for r in sel)}  "
              f"blinks/min {stat('blinks_per_min')}")  # fmt: skip
    for name in [m for model in models for m in (model, f"{model}-live")]:
        long_ = [r for r in rows if r["method"] == f"{name}-long"]
        if long_:
            v = [r["blinks_per_min"] for r in long_]
            print(f"  {name:13} long clips: blinks/min {np.mean(v):.1f} [{min(v):.1f}-{max(v):.1f}]")
    for name in models:
        goals(rows, name)


def goals(rows: list[dict], name: str) -> None:
    """The issue's goals for one model method, yes/NO each."""
    model = [r for r in rows if r["method"] == name]
    loud = {(r["portrait"], r["speaker"]): r for r in rows if r["method"] == "loud"}
    long_ = [r for r in rows if r["method"] == f"{name}-long"]
    if not model:
        return
    with_ph = [r for r in model if "r_ph" in r]
    met = {
        "r_E >= 0.65 on every pair": all(r["r_E"] >= 0.65 for r in model),
        "r_ph >= 0.7 where aligned": bool(with_ph) and all(r["r_ph"] >= 0.7 for r in with_ph),
        "r_ph above the loudness baseline": bool(with_ph)
        and all(r["r_ph"] > loud[(r["portrait"], r["speaker"])]["r_ph"] for r in with_ph),
        "bilabials closed >= 80%": bool(with_ph) and all(r["bilabials_closed"] >= 0.8 for r in with_ph),
        "|lag| <= 1 frame": all(abs(r["lag"]) <= 1 for r in model),
        "blinks 10-25/min (long clips)": bool(long_) and all(10 <= r["blinks_per_min"] <= 25 for r in long_),
    }
    print(f"goals {name}: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in met.items()))


if __name__ == "__main__":
    main()
