"""Corpus commands: build a TTS-bootstrapped motion corpus, or one from real talking-head videos."""

from __future__ import annotations

from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, err_console, progress_bar

corpus_app = typer.Typer(help="Training corpora for the audio-driven motion model.", no_args_is_help=True)


@corpus_app.command("build")
@cli_errors
def build(
    out: Path = typer.Option(..., "--out", help="Corpus folder (created; an existing one is resumed)."),
    hours: float = typer.Option(1.0, "--hours", help="Hours of audio the corpus should hold."),
    seed: int = typer.Option(0, "--seed", help="Build seed: the same seed gives the same corpus."),
    workers: int = typer.Option(2, "--workers", help="Worker processes (1-2; the machine is shared)."),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Fan out on Ray: auto (the cluster `ray start` runs here), HOST:PORT, or local (--workers CPUs); "
        "every node must see --out (a shared folder).",
    ),
) -> None:
    """Synthesise random multilingual speech with espeak-ng, flite and festival and label its motion."""
    from candor.executors import executor_for
    from candor.training.corpus.build import build_corpus, read_manifest

    executor = executor_for(ray=ray, workers=workers) if ray is not None else None
    try:
        with progress_bar(f"building {out}", hours * 3600) as advance:
            advance(sum(e["duration_s"] for e in read_manifest(out)))  # a resumed build starts part-way
            info = build_corpus(
                out, hours, seed=seed, workers=workers, on_progress=lambda s, _e: advance(s), executor=executor
            )
    finally:
        if executor is not None:
            executor.close()
    console.print(
        f"{info['utterances']} utterances, {info['hours']:.2f} h "
        f"(train {info['hours_per_split'].get('train', 0):.2f} h, val {info['hours_per_split'].get('val', 0):.2f} h), "
        f"{info['voices']} voices; this run {info['speed_x_realtime'] or '-'}x real time on {info['executor']} -> {out}"
    )


@corpus_app.command("from-videos")
@cli_errors
def from_videos(
    video_dir: Path = typer.Argument(..., help="Folder of talking-head videos with audio."),
    out: Path = typer.Option(..., "--out", help="Corpus folder (created; an existing one is resumed)."),
) -> None:
    """Extract motion (and 16 kHz audio) from each video into the corpus format."""
    from candor.training.corpus.videos import VIDEO_SUFFIXES, build_from_videos

    total = sum(1 for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if video_dir.is_dir() else 0
    with progress_bar(f"extracting {video_dir}", total or None) as advance:
        info = build_from_videos(
            video_dir,
            out,
            on_progress=lambda _name, _s: advance(1),
            on_skip=lambda name, why: (err_console.print(f"[yellow]skipped[/] {name}: {why}"), advance(1)),
        )
    console.print(f"{info['made']} new, {info['skipped']} skipped; {info['utterances']} utterances in {out}")


@corpus_app.command("real")
@cli_errors
def real(
    out: Path = typer.Option(..., "--out", help="Corpus folder (created; an existing one is resumed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the non-verbal motion and control draws."),
    max_utterances: int | None = typer.Option(None, "--max-utterances", help="Stop after this many new ones."),
    held_out_only: bool = typer.Option(
        False, "--held-out-only", help="Only the held-out speakers (the val split an evaluation needs)."
    ),
) -> None:
    """Label real recorded speech from Debian packages (asterisk prompts in 5 languages, LibriVox
    read speech, codec2 samples): English by pocketsphinx forced alignment, other languages by
    phone-loop recognition. Install the recordings first with `make real-speech`
    (apt-get install asterisk-core-sounds-{en,es,fr,it,ru}-wav asterisk-core-sounds-en
    pocketsphinx-testdata codec2-examples); nothing is downloaded here."""
    from candor.training.corpus.real import HELD_OUT, build_real_corpus, discover

    recs = discover()
    if held_out_only:
        recs = [r for r in recs if r.speaker in HELD_OUT]
    with progress_bar(f"labelling {out}", len(recs) or None) as advance:
        info = build_real_corpus(
            out, recordings=recs, seed=seed, max_utterances=max_utterances, on_progress=lambda _s, _e: advance(1)
        )
    check = info["label_check"]
    hours = info["hours_per_split"]
    console.print(
        f"{info['utterances']} utterances, {info['hours']:.2f} h "
        f"(train {hours.get('train', 0):.2f} h, held-out speakers {hours.get('val', 0):.2f} h); "
        f"labels {info['per_labels']} -> {out}\n"
        f"phone loop vs alignment on English: jaw r {check['jaw_r_phone_loop_vs_aligned']}, "
        f"bilabials closed {check['bilabials_closed_phone_loop']} "
        f"(jaw = log energy: r {check['jaw_r_log_energy_vs_aligned']})"
    )


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
