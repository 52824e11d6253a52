"""The ceiling of the label rules: how well labels made from the phones could score, no model, no render.

A model that learned its labels perfectly, rendered perfectly, would show the labels' own lip
aperture; so the lip-sync figures of ``lipsync_e2e.py`` computed on the labels themselves bound
what any model trained on them can reach. Per speaker, over clips joined the way ``lipsync_e2e``
joins them (utterances in order, 0.3 s gaps, ~12 s), it prints for each method:

- ``r_E``: Pearson r of the lip aperture with the audio's log RMS energy per 40 ms frame, best lag
  within +-5 frames (mean and minimum over clips), and per utterance (``utt r_E``, >= 1.5 s);
- ``r_E-b``: r_E on the frames outside /p b m/ (+-1 frame) and /h/, at r_E's lag (ARPAbet phones:
  aligned, or the phone loop's): how much of a method's distance from loudness is the bilabials
  and /h/, where closing (or opening) the lips is right and loudness says the opposite;
- ``r_T``: r with the phonetic opening truth (``openness.opening_truth``: a fixed per-phone
  table applied to the forced alignment, no smoothing, no holds), same lag search;
- ``bil``: the share of aligned /p b m/ on which the aperture falls within ``CLOSED_MARGIN`` face
  heights of closed at some frame of the segment +-1 frame (the e2e benchmark's rule).

Methods: every articulatory model in ``visemes.RULES`` (v1: the rules the shipped model was
trained on; v2: the syllable-frame rules), ``truth`` (the table itself, as a label) and ``loud``
(jaw opening = loudness, the e2e baseline), and ``oracle``, a bound rather than a label: every
phone held at its mean log energy on the train split's aligned English, with silence and /p b m/
closed (how far any per-phone table could follow energy while the lips close on bilabials).
``lipsync_e2e`` used to grade against the labels of the rules in use; its truth is now the same
independent table as here.

``--frontier`` also scores a family of rules around the shipped ones, on the held-out speakers:
syllable magnitude (``Rules.magnitude_per_db``: louder vowels open the jaw wider) times vowel
height (the vowels' jaw targets moved from v2's compressed ones, ``a`` = 0, toward the opening
table's own contrast, ``a`` = 1: /a/ 0.56 ... /u/ 0.17). It shows how far r_E and r_T can be
had together by any label of this kind: each step toward loudness costs r_T, each toward the
table costs r_E.

Speakers: the real corpus's aligned English (``asterisk-Allison``, train split, and
``librivox-austen``, held out from training; the v2 rules were chosen on sweeps that printed
both, so neither is an unseen check of the rules), the held-out phone-loop speakers
(``asterisk-Carlo`` it, ``asterisk-IvrvoiceRU`` ru: ``r_E`` only, no alignment, so no truth and no
bilabials) and with ``--tts`` the validation split of a TTS corpus (held-out voices; truth for the
ARPAbet engines only, espeak-ng's IPA has no table). The phone-loop and TTS speakers were first
scored after v2 was fixed: they are the unseen check.

    python benchmarks/label_ceiling.py --corpus out/corpus-real [--tts out/corpus-tts] [--gaps room] [--frontier]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lipsync_e2e import CLOSED_MARGIN, FPS, articulation_mask, best_r, log_energy, loudness_motion, r_at_lag

GAP_S = 0.3
CLIP_S = 12.0
MIN_UTT_S = 1.5


@dataclass
class Utt:
    speaker: str
    audio: np.ndarray  # 16 kHz
    phonemes: list[tuple[float, float, str]]
    alphabet: str  # "arpa" | "ipa"
    aligned: bool  # the phones are an alignment (or a synthesizer's own timing), not a phone loop


def load_real(corpus: Path) -> list[Utt]:
    """Aligned English of every speaker and the phone-loop utterances of held-out speakers."""
    from candor.training.corpus.real import iter_rows

    out = []
    for row in iter_rows(corpus):
        aligned = row.get("labels") == "aligned"
        if not aligned and row["split"] != "val":
            continue
        with np.load(corpus / row["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            phonemes = [tuple(p) for p in json.loads(str(z["phonemes"]))]
        out.append(Utt(row["voice"], audio, phonemes, "arpa", aligned))
    return out


def load_tts(corpus: Path, per_voice: int) -> list[Utt]:
    """Up to ``per_voice`` validation utterances of each held-out TTS voice."""
    from candor.training.corpus.build import read_manifest
    from candor.training.corpus.visemes import alphabet_of

    out, count = [], {}
    for row in read_manifest(corpus):
        if row["split"] != "val" or count.get(row["voice"], 0) >= per_voice:
            continue
        count[row["voice"]] = count.get(row["voice"], 0) + 1
        with np.load(corpus / row["file"]) as z:
            audio = z["audio"].astype(np.float32) / 32768.0
            phonemes = [tuple(p) for p in json.loads(str(z["phonemes"]))]
        out.append(Utt(f"tts:{row['voice']}", audio, phonemes, alphabet_of(row["engine"]), True))
    return out


def room_tone(audio: np.ndarray, samples: int) -> np.ndarray:
    """The recording's quietest 100 ms, repeated to ``samples``: its own background, not digital silence."""
    hop = 160
    n = len(audio) // hop
    rms = np.sqrt((audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1))
    i = int(np.argmin(np.convolve(rms, np.ones(10) / 10, "valid")))
    return np.resize(audio[i * hop : (i + 10) * hop], samples)


def clips(utts: list[Utt], gaps: str) -> list[Utt]:
    """Per speaker, utterances (sentences first, then by order) joined into ~CLIP_S clips."""
    by: dict[str, list[Utt]] = {}
    for u in utts:
        by.setdefault(u.speaker, []).append(u)
    out = []
    for speaker, us in by.items():
        us = sorted(us, key=lambda u: len(u.audio) < MIN_UTT_S * 16000)  # stable: keeps corpus order
        parts, phonemes, t = [], [], 0.0
        for k, u in enumerate(us):
            d = len(u.audio) / 16000
            gap = (
                room_tone(u.audio, int(GAP_S * 16000))
                if gaps == "room"
                else np.random.default_rng(0).normal(0, 3e-4, int(GAP_S * 16000)).astype(np.float32)
            )
            phonemes += [(s + t, e + t, p) for s, e, p in u.phonemes] + [(t + d, t + d + GAP_S, "_")]
            parts += [u.audio, gap]
            t += d + GAP_S
            if t >= CLIP_S or (k == len(us) - 1 and t > CLIP_S / 3):
                out.append(Utt(speaker, np.concatenate(parts), phonemes, u.alphabet, all(x.aligned for x in us)))
                parts, phonemes, t = [], [], 0.0
    return out


# --------------------------------------------------------------------------------------------
# Methods: (audio, phonemes, alphabet, speaker) -> lip aperture per frame (face heights)
# --------------------------------------------------------------------------------------------

Method = Callable[[Utt, int], np.ndarray]


def rules_method(rules) -> Method:
    from candor.generator.controls import Controls
    from candor.training.corpus.labels import motion_labels
    from candor.training.corpus.nonverbal import Style
    from candor.training.corpus.visemes import lip_aperture

    def run(u: Utt, n: int) -> np.ndarray:
        motion, _ = motion_labels(u.audio, u.phonemes, Controls(), Style.for_speaker(u.speaker),
                                  np.random.default_rng(0), u.alphabet, rules)  # fmt: skip
        return lip_aperture(motion)[:n]

    return run


def truth_method(u: Utt, n: int) -> np.ndarray:
    from candor.training.corpus.openness import opening_truth

    # The table's scale (1 = /a/) as a lip gap: v1's /a/ opens ~0.11 face heights.
    return 0.11 * opening_truth(u.phonemes, (np.arange(n) + 0.5) / FPS)


def loud_method(u: Utt, n: int) -> np.ndarray:
    from candor.training.corpus.visemes import lip_aperture

    return lip_aperture(loudness_motion(u.audio, n))


def energy_oracle(utts: list[Utt]) -> Method:
    """A diagnostic bound, not a label: each phone held at its mean log energy over ``utts`` (the
    train split's aligned English), silence and /p b m/ at the floor (closed lips). The best a
    per-phone table can follow energy while still closing the lips on bilabials."""
    sums: dict[str, list[float]] = {}
    for u in utts:
        n = -(-len(u.audio) * FPS // 16000)
        energy, t = log_energy(u.audio, n), (np.arange(n) + 0.5) / FPS
        for s, e, p in u.phonemes:
            inside = (t >= s) & (t < e)
            if inside.any():
                sums.setdefault(p, []).append(float(energy[inside].mean()))
    floor = np.mean(sums.get("_", [np.log(1e-5)]))
    table = {p: max(0.0, np.mean(v) - floor) for p, v in sums.items()}
    table |= dict.fromkeys(("_", "p", "b", "m"), 0.0)

    def run(u: Utt, n: int) -> np.ndarray:
        out, t = np.zeros(n), (np.arange(n) + 0.5) / FPS
        for s, e, p in u.phonemes:
            out[(t >= s) & (t < e)] = table.get(p, 0.0)
        return out

    return run


def bilabials_closed(aperture: np.ndarray, phonemes: list[tuple[float, float, str]]) -> float:
    """Share of /p b m/ (ARPAbet) whose aperture reaches CLOSED_MARGIN within the segment +-1 frame."""
    hits = []
    for s, e, p in phonemes:
        if p.lower().rstrip("012") in ("p", "b", "m"):
            a, b = max(0, int(s * FPS) - 1), min(len(aperture), int(np.ceil(e * FPS)) + 1)
            if a < b:
                hits.append(aperture[a:b].min() <= CLOSED_MARGIN)
    return float(np.mean(hits)) if hits else np.nan


def score(u: Utt, method: Method) -> dict:
    """r_E, lag and (for aligned ARPAbet phones) r_T and the bilabial share of one clip."""
    from candor.training.corpus.openness import opening_truth

    n = -(-len(u.audio) * FPS // 16000)
    aperture = method(u, n)
    energy = log_energy(u.audio, n)
    r_e, lag = best_r(aperture, energy)
    out = {"r_E": r_e, "lag": lag}
    if u.alphabet == "arpa":
        out["r_Eb"] = r_at_lag(aperture, energy, lag, ~articulation_mask(u.phonemes, n))
    if u.aligned and u.alphabet == "arpa":
        out["r_T"] = best_r(aperture, opening_truth(u.phonemes, (np.arange(n) + 0.5) / FPS))[0]
        out["bil"] = bilabials_closed(aperture, u.phonemes)
    return out


# The vowels' jaw targets at height a = 1: v2's /a/ (0.56 with mouthLowerDown's share) times the
# opening table (openness.OPENING), averaged over the ARPAbet vowels each viseme stands for (YY,
# not in ARPAbet, as UU).
TABLE_VOWELS = {"AA": ("aa",), "OO": ("ao",), "EE": ("eh",), "SCHWA": ("ah", "ax"), "II": ("ih", "iy"),
                "UU": ("uh", "uw"), "YY": ("uh", "uw")}  # fmt: skip
TABLE_SCALE = 0.56


def table_vowel_jaw() -> dict[str, float]:
    from candor.training.corpus.openness import OPENING

    return {v: TABLE_SCALE * float(np.mean([OPENING[p] for p in phones])) for v, phones in TABLE_VOWELS.items()}


def rules_variant(magnitude_per_db: float, height: float):
    """v2 with a syllable magnitude and vowel jaw targets moved ``height`` of the way to the table's."""
    from candor.training.corpus.visemes import V2

    visemes = dict(V2.visemes)
    for v, jaw in table_vowel_jaw().items():
        targets, alphas = visemes[v]
        targets = {**targets, "jawOpen": targets["jawOpen"] + height * (jaw - targets["jawOpen"])}
        visemes[v] = (targets, alphas)
    return dataclasses.replace(V2, name=f"m{magnitude_per_db:g}/a{height:g}", visemes=visemes,
                               magnitude_per_db=magnitude_per_db, magnitude_range=(0.5, 1.5))  # fmt: skip


def frontier(joined: list[Utt]) -> None:
    """r_E and r_T of the rules family on the held-out speakers (aligned English; phone loop r_E)."""
    from candor.training.corpus.real import HELD_OUT

    aligned = [c for c in joined if c.speaker in HELD_OUT and c.aligned and c.alphabet == "arpa"]
    loop = [c for c in joined if c.speaker in HELD_OUT and not c.aligned]
    print("\nfrontier on the held-out speakers: r_E / r_T of aligned English, r_E of the phone-loop clips "
          "(mean [min] over clips); goals r_E >= 0.65 every clip, r_T >= 0.7")  # fmt: skip
    print(f"{'rules':12} {'aligned r_E':>14} {'r_E-b':>6} {'r_T':>14} {'bil':>5} {'loop r_E':>14}")
    for k in (0.0, 0.03, 0.06):
        for a in (0.0, 0.5, 1.0):
            method = rules_method(rules_variant(k, a))
            s = [score(c, method) for c in aligned]
            r_e, r_t = np.array([x["r_E"] for x in s]), np.array([x["r_T"] for x in s])
            r_l = np.array([score(c, method)["r_E"] for c in loop]) if loop else np.array([np.nan])
            print(f"m{k:<4g} a{a:<5g} {r_e.mean():6.3f} [{r_e.min():5.3f}] {np.nanmean([x['r_Eb'] for x in s]):6.3f} "
                  f"{r_t.mean():6.3f} [{r_t.min():5.3f}] {np.nanmean([x['bil'] for x in s]):5.2f} "
                  f"{r_l.mean():6.3f} [{r_l.min():5.3f}]", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("out/corpus-real"))
    parser.add_argument("--tts", type=Path, default=None, help="a TTS corpus: its validation voices too")
    parser.add_argument("--tts-per-voice", type=int, default=8)
    parser.add_argument("--gaps", choices=("dither", "room"), default="dither",
                        help="what fills the 0.3 s between utterances: lipsync_e2e's -70 dB dither, or "
                        "the recording's own quietest 100 ms")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--frontier", action="store_true", help="also a family of rules around v2 (held-out speakers)")
    args = parser.parse_args()
    from candor.training.corpus.visemes import RULES

    started = time.perf_counter()
    utts = load_real(args.corpus)
    if args.tts:
        utts += load_tts(args.tts, args.tts_per_voice)
    if not utts:
        raise SystemExit(f"nothing to score in {args.corpus}: build it with `candor corpus real`")
    methods: dict[str, Method] = {name: rules_method(r) for name, r in RULES.items()}
    methods |= {"truth": truth_method, "loud": loud_method}
    from candor.training.corpus.real import HELD_OUT

    train = [
        u for u in utts if u.aligned and u.alphabet == "arpa" and u.speaker not in HELD_OUT and ":" not in u.speaker
    ]
    if train:
        methods["oracle"] = energy_oracle(train)
    joined = clips(utts, args.gaps)
    rows = []
    print(f"clips of ~{CLIP_S:.0f} s, gaps: {args.gaps}; mean [min] over clips; utt r_E: mean over utterances >= "
          f"{MIN_UTT_S} s")  # fmt: skip
    print(f"{'speaker':28} {'clips':>5} {'method':6} {'r_E':>14} {'utt r_E':>8} {'r_E-b':>6} {'r_T':>14} {'bil':>5}")
    for speaker in sorted({u.speaker for u in joined}, key=lambda s: (s.startswith("tts:"), s)):
        cs = [c for c in joined if c.speaker == speaker]
        singles = [u for u in utts if u.speaker == speaker and len(u.audio) >= MIN_UTT_S * 16000][:40]
        for name, method in methods.items():
            if name == "truth" and not (cs[0].aligned and cs[0].alphabet == "arpa"):
                continue
            if name == "oracle" and cs[0].alphabet != "arpa":  # its table is of ARPAbet phones
                continue
            s = [score(c, method) for c in cs]
            utt_r = np.nanmean([score(u, method)["r_E"] for u in singles]) if singles else np.nan
            r_e = np.array([x["r_E"] for x in s])
            row = {"speaker": speaker, "method": name, "clips": len(cs), "r_E": r_e.tolist(), "utt_r_E": utt_r}
            r_eb = np.array([x.get("r_Eb", np.nan) for x in s])
            row["r_Eb"] = r_eb.tolist()
            line = f"{speaker:28} {len(cs):5d} {name:6} {r_e.mean():6.3f} [{r_e.min():5.3f}] {utt_r:8.3f}"
            line += f" {np.nanmean(r_eb) if np.isfinite(r_eb).any() else np.nan:6.3f}"
            if "r_T" in s[0]:
                r_t = np.array([x["r_T"] for x in s])
                bil = float(np.nanmean([x["bil"] for x in s]))
                row |= {"r_T": r_t.tolist(), "bil": bil}
                line += f" {r_t.mean():6.3f} [{r_t.min():5.3f}] {bil:5.2f}"
            rows.append(row)
            print(line, flush=True)
    summarize(rows)
    if args.frontier:
        frontier(joined)
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


def summarize(rows: list[dict]) -> None:
    """Per method and group of speakers: r_E over every clip (mean [min]), r_T, bilabials closed."""
    from candor.training.corpus.real import HELD_OUT

    groups = {
        "real held out, aligned": lambda r: r["speaker"] in HELD_OUT and "r_T" in r,
        "real held out, phone loop": lambda r: r["speaker"] in HELD_OUT and "r_T" not in r,
        "real train, aligned": lambda r: not r["speaker"].startswith("tts:") and r["speaker"] not in HELD_OUT,
        "tts held-out voices": lambda r: r["speaker"].startswith("tts:"),
    }
    print("\nsummary over clips (mean [min]); goals: r_E >= 0.65, r_T >= 0.7, bilabials closed >= 0.8")
    for group, member in groups.items():
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["method"] == method and member(r)]
            if not sel:
                continue
            r_e = np.concatenate([r["r_E"] for r in sel])
            line = f"  {group:26} {method:6} r_E {r_e.mean():.3f} [{r_e.min():.3f}]"
            r_eb = np.concatenate([r.get("r_Eb", []) for r in sel]).astype(float)
            if np.isfinite(r_eb).any():
                line += f"  r_E-b {np.nanmean(r_eb):.3f} [{np.nanmin(r_eb):.3f}]"
            if any("r_T" in r for r in sel):
                r_t = np.concatenate([r["r_T"] for r in sel if "r_T" in r])
                bil = np.array([r["bil"] for r in sel if "bil" in r])
                line += f"  r_T {r_t.mean():.3f} [{r_t.min():.3f}]  bil {np.nanmean(bil):.2f} [{np.nanmin(bil):.2f}]"
            print(line)


if __name__ == "__main__":
    main()
