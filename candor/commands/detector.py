"""Detector commands: `detect VIDEO`, `detect-batch DIR|s3://...` and `detector dataset|train|eval`.

`candor detect` exit codes, for scripts:
  0  no evidence of synthesis (not proof of authenticity)
  1  synthetic (classifier): no credentials or record, but the classifier flags the face
  2  usage or input error (missing file, file too large)
  3  Candor-generated (proven): trusted credentials, or the watermark's generation record
  4  cannot analyse: unreadable video, no decodable frames, or no face found
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, err_console, progress_bar

detector_app = typer.Typer(help="Train and evaluate the synthetic-face classifier.", no_args_is_help=True)


def detect(
    video: Path = typer.Argument(..., help="Video file to scan (MP4, MOV, WebM...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    report: Path | None = typer.Option(None, "--report", help="Also write an HTML report here."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Classifier checkpoint (default: shipped)."),
) -> None:
    """Is the face in VIDEO synthetic? Credentials, watermark and classifier evidence, strongest first.

    Exit codes: 0 no evidence of synthesis, 1 synthetic (classifier), 2 usage or input error,
    3 Candor-generated (proven), 4 cannot analyse (unreadable, no frames, no face).
    """
    from candor.commands._common import container
    from candor.detector.verdict import detect_video

    built = container()
    result = detect_video(video, verifier=built.verifier, classifier=built.classifier(checkpoint))
    if report is not None:
        from candor.detector.report import write_report

        write_report(result, report)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(f"[bold]{result.label}[/]  ({result.reason})", highlight=False)
        for i, ev in enumerate(result.evidence, 1):
            console.print(f"  {i}. [{ev.strength}] {ev.kind}: {ev.finding}", highlight=False, markup=False)
        if result.classifier is not None:
            _print_classifier(result.classifier)
        if report is not None:
            err_console.print(f"report written to {report}")
    raise typer.Exit(result.exit_code)


def detect_batch(
    source: str = typer.Argument(
        ..., help="A folder of videos (searched recursively) or s3://bucket/prefix[?endpoint=URL&region=R]."
    ),
    ray: str | None = typer.Option(
        None, "--ray", help="Fan out on Ray: auto (the cluster `ray start` runs here), HOST:PORT, or local."
    ),
    jsonl: Path | None = typer.Option(None, "--jsonl", help="Write the rows here (default: standard output)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes (or CPUs of --ray local)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Classifier checkpoint (default: shipped)."),
) -> None:
    """Scan every video under SOURCE: one JSON line per video (path, verdict, reason, seconds, error),
    a progress bar and a summary (counts by verdict, videos per minute). Serial by default;
    --workers N runs N local processes, --ray runs on a Ray cluster. A bad file is a row, not a failure."""
    from candor.commands._common import container
    from candor.executors import executor_for
    from candor.services.batch import ScanRecipe, list_videos, scan_videos

    recipe = ScanRecipe.from_container(container(), checkpoint=checkpoint, source=source)
    videos = list_videos(source, endpoint=recipe.s3_endpoint, region=recipe.s3_region)
    with executor_for(ray=ray, workers=workers) as executor:
        err_console.print(f"scanning {len(videos)} videos on {executor.describe()}", highlight=False)
        with progress_bar("scanning", len(videos)) as advance:

            def on_row(row: dict) -> None:
                if jsonl is None:
                    typer.echo(json.dumps(row, ensure_ascii=False))
                advance(1)

            summary = scan_videos(videos, recipe=recipe, executor=executor, jsonl=jsonl, on_row=on_row)
    counts = ", ".join(f"{name} {n}" for name, n in summary.by_verdict.items())
    err_console.print(
        f"{summary.videos} videos: {counts}; {summary.errors} could not be analysed; "
        f"{summary.videos_per_minute:g} videos/minute ({summary.wall_s:g} s on {summary.executor})"
        + (f" -> {jsonl}" if jsonl is not None else ""),
        highlight=False,
    )


def _print_classifier(c) -> None:
    """The whole per-second timeline (every second, however long the video; '*' marks seconds over
    the threshold), the flagged segments with their cue, and what the classifier was trained on."""
    from candor.detector.timeline import CUE_WORDS

    if c.timeline:
        console.print(f"  timeline (P(synthetic) per second, * at or over {c.threshold:.3f}):", highlight=False)
        for row in range(0, len(c.timeline), 15):
            cells = " ".join(
                f"{p['probability']:.2f}{'*' if p['probability'] >= c.threshold else ' '}"
                for p in c.timeline[row : row + 15]
            )
            console.print(f"    {c.timeline[row]['second']:>5.0f} s  {cells}", highlight=False, markup=False)
    for g in c.segments:
        cue = CUE_WORDS.get(g["cue"], g["cue"]) if g["cue"] else "no single cue"
        console.print(
            f"  segment {g['start_s']:g}-{g['end_s']:g} s: P {g['probability']:.2f} (peak {g['peak_probability']:.2f});"
            f" carried mostly by {cue}",
            highlight=False,
            markup=False,
        )
    console.print(f"  classifier trained on: {c.trained_on}", highlight=False, markup=False)


def dataset(
    out: Path = typer.Option(Path("data/detector"), "--out", help="Dataset directory."),
    external: Path | None = typer.Option(None, "--external", help="A folder with real/ and fake/ videos to import."),
    lfw_faces: int = typer.Option(70, help="How many of skimage's LFW faces to use (at most 100)."),
    seconds: float = typer.Option(2.0, help="Seconds per clip."),
    clips: int = typer.Option(2, help="Clips per identity and label (train/validation)."),
    workers: int = typer.Option(2, help="Worker processes."),
    limit: int | None = typer.Option(None, help="Only the first N identities of each split (a quick build)."),
    audio_tests: bool = typer.Option(True, help="Also make audio-driven pipeline test clips (evaluation only)."),
    audio_training: bool = typer.Option(
        False, help="Also add one audio-driven synthetic clip per train/validation identity (see the model card)."
    ),
    product: bool = typer.Option(
        False,
        "--product",
        help="Build the product dataset instead: the audio-driven pipeline over many portraits and voices, "
        "split by portrait, voice and seed, with held-out channel variants (default --out data/product).",
    ),
    held_out_generator: list[str] = typer.Option(
        [],
        "--held-out-generator",
        help="With --product: add test clips of a generator version never trained on to the product dataset "
        "in --out (repeatable): NAME=MOTION_CHECKPOINT (e.g. an older motion_dit.pt from git history), or "
        "'live' for the live path.",
    ),
) -> None:
    """Build training features and held-out test videos (Candor renders vs filmed stills)."""
    if held_out_generator and not product:
        raise typer.BadParameter("--held-out-generator needs --product")
    if product:
        out = Path("data/product") if out == Path("data/detector") else out
        if held_out_generator:
            _generator_tests(out, held_out_generator, workers, limit)
        else:
            _product_dataset(out, workers, limit)
        return
    from candor.training.detector_dataset import (
        DatasetConfig,
        build_audio_driven_tests,
        build_audio_driven_training,
        build_dataset,
        import_external,
    )

    if external is not None:
        with progress_bar("importing videos", None) as advance:
            counts = import_external(external, out, on_video=lambda _: advance(1))
        console.print(f"imported into {out}: {counts}")
        return
    if not 1 <= lfw_faces <= 100:
        raise typer.BadParameter("--lfw-faces must be within 1-100")
    cfg = DatasetConfig(lfw_faces=lfw_faces, seconds=seconds, clips_per_identity=clips)
    from candor.training.detector_dataset import identities

    total = len(identities(cfg)) if limit is None else 3 * limit
    with progress_bar("rendering and filming identities", total) as advance:
        index = build_dataset(out, cfg, workers=workers, limit=limit, on_identity=lambda _: advance(1))
    skipped = [s for s in index["summaries"] if "skipped" in s]
    if audio_tests and limit is None:
        console.print(f"{len(build_audio_driven_tests(out, cfg))} audio-driven test clips")
    if audio_training and limit is None:
        console.print(f"{len(build_audio_driven_training(out, cfg, workers=workers))} audio-driven training clips")
    console.print(
        f"dataset in {out}: {len(index['summaries']) - len(skipped)} identities, {len(skipped)} without a face"
    )


def _product_dataset(out: Path, workers: int, limit: int | None) -> None:
    from candor.training.detector_product import (
        ProductConfig,
        add_calibration_reals,
        build_product_dataset,
        build_real_video_tests,
        portraits,
    )

    cfg = ProductConfig()
    total = len(portraits(cfg)) if limit is None else 3 * limit
    with progress_bar("rendering and filming portraits", total) as advance:
        index = build_product_dataset(out, cfg, workers=workers, limit=limit, on_portrait=lambda _: advance(1))
    reals = build_real_video_tests(out, cfg)
    add_calibration_reals(out, cfg, per_portrait=1 if limit is not None else 5)
    skipped = [s["portrait"] for s in index["summaries"] if "skipped" in s]
    console.print(
        f"product dataset in {out}: {len(index['summaries']) - len(skipped)} portraits"
        + (f" ({len(skipped)} without a face: {', '.join(skipped)})" if skipped else "")
        + f", {len(reals)} test clips of real videos that ship here",
        highlight=False,
    )


def _generator_tests(out: Path, specs: list[str], workers: int, limit: int | None) -> None:
    from candor.training.detector_generators import build_generator_tests, parse_versions

    versions = parse_versions(specs)
    with progress_bar("rendering held-out generator versions", None) as advance:
        done = build_generator_tests(out, versions, workers=workers, limit=limit, on_clip=lambda _: advance(1))
    skipped = [f"{s['portrait']} ({s['version']})" for s in done if "skipped" in s]
    console.print(
        f"{len(done) - len(skipped)} held-out generator clips in {out}/test/fake ({', '.join(versions)})"
        + (f"; no face: {', '.join(skipped)}" if skipped else ""),
        highlight=False,
    )


def train(
    data: Path = typer.Option(Path("data/detector"), "--data", help="Dataset directory."),
    out: Path = typer.Option(Path("candor/detector/checkpoints/detector.pt"), "--out", help="Checkpoint to write."),
    epochs: int = typer.Option(8, min=1),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
    calibrate_only: bool = typer.Option(False, "--calibrate-only", help="Only refit OUT's calibration on DATA/val."),
    drop_cue: list[str] = typer.Option(
        [], "--drop-cue", help="Leave a cue group out of the model (repeatable), e.g. 'expression motion'."
    ),
    crop_rescale: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of training face crops softened (reduced and enlarged back)."
    ),
    select_on_tpr: bool = typer.Option(
        False,
        "--select-on-tpr",
        help="Keep the epoch catching most validation synthetic clips at the 1 % false-positive threshold "
        "(default: the best validation AUC).",
    ),
    seed: int = typer.Option(0, help="Random seed (weights, batches, augmentation)."),
) -> None:
    """Train the classifier on DATA/train, calibrate on DATA/val, write the checkpoint."""
    from candor.training.detector_trainer import TrainConfig, recalibrate
    from candor.training.detector_trainer import train as run

    if calibrate_only:
        classifier = recalibrate(data, out)
        m = classifier.metrics
        console.print(
            f"recalibrated {out} on {m['val_clips']} validation clips: "
            f"threshold {classifier.calibration.threshold:.3f}, "
            f"TPR {m['val_tpr_at_threshold']:.3f} / FPR {m['val_fpr_at_threshold']:.3f}"
        )
        return

    with progress_bar("training", epochs) as advance:

        def on_epoch(epoch: int, stats: dict[str, float]) -> None:
            advance(1)
            err_console.print(
                f"epoch {epoch}: loss {stats['loss']:.4f}, validation AUC {stats['val_auc']:.4f}, "
                f"log loss {stats['val_loss']:.4f}, synthetic caught at 1 % FPR {stats['val_tpr']:.3f}"
            )

        classifier = run(
            data,
            out,
            TrainConfig(
                epochs=epochs,
                drop_cues=tuple(drop_cue),
                crop_rescale_p=crop_rescale,
                select_on_tpr=select_on_tpr,
                seed=seed,
            ),
            device=device,
            on_epoch=on_epoch,
        )
    m = classifier.metrics
    console.print(
        f"checkpoint {out}: validation AUC {m['val_auc']:.4f}, TPR {m['val_tpr_at_threshold']:.3f} / "
        f"FPR {m['val_fpr_at_threshold']:.3f} at threshold {classifier.calibration.threshold:.3f}; "
        f"{m['train_seconds']:.0f} s on {m['device']}"
    )


def evaluate(
    data: Path = typer.Option(Path("data/detector"), "--data", help="Dataset directory (its test/ videos)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint"),
    as_json: bool = typer.Option(False, "--json"),
    product: bool = typer.Option(False, "--product", help="DATA is a product dataset (--product of `dataset`)."),
) -> None:
    """Video-level AUC and TPR at 1 % FPR on the held-out test videos, per variant."""
    from candor.detector.model import load_classifier
    from candor.training.detector_eval import evaluate as run

    classifier = load_classifier(checkpoint)
    if product:
        from candor.training.detector_eval import evaluate_product

        with progress_bar("scanning test videos", None) as advance:
            results = evaluate_product(data, classifier, on_video=lambda _: advance(1))
        if as_json:
            typer.echo(json.dumps(results, indent=2))
            return
        for name, row in results["variants"].items():
            console.print(
                f"{name:10s} AUC {row['auc']:.4f}  flagged fake {row['fake_flagged']:.3f}  "
                f"real flagged: {', '.join(row['real_flagged']) or 'none'} of {row['real_videos']}",
                highlight=False,
            )
        console.print(f"false-positive rate on real clips: {results['real_false_positive_rate']:.4f}")
        return
    with progress_bar("scanning test videos", None) as advance:
        results = run(data, classifier, on_video=lambda _: advance(1))
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for name, row in results["variants"].items():
        console.print(
            f"{name:12s} AUC {row['auc']:.4f}  TPR@1%FPR {row['tpr_at_1pct_fpr']:.3f}  "
            f"flagged fake {row['fake_flagged']:.3f}  flagged real {row['real_flagged']:.3f}  "
            f"watermark found {row['watermark_found']:.3f}",
            highlight=False,
        )


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    app.command("detect")(cli_errors(detect))
    app.command("detect-batch")(cli_errors(detect_batch))
    detector_app.command("dataset")(cli_errors(dataset))
    detector_app.command("train")(cli_errors(train))
    detector_app.command("eval")(cli_errors(evaluate))
    app.add_typer(detector_app, name="detector")
