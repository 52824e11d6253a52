"""Audio-driven motion commands: ``candor train motion`` and ``candor generate``."""

from __future__ import annotations

from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, err_console, fail, loading_models
from candor.generator.controls import DEFAULT_FPS, DISTANCE, FPS

train_app = typer.Typer(help="Train Candor's models.", no_args_is_help=True)


def _parse_gaze(text: str | None) -> tuple[float, float]:
    if not text:
        return 0.0, 0.0
    try:
        yaw, pitch = (float(v) for v in text.split(","))
    except ValueError:
        raise fail(f"--gaze must look like YAW,PITCH in degrees (e.g. 10,-5), got {text!r}") from None
    return yaw, pitch


@train_app.command("motion")
@cli_errors
def train_motion(
    corpus: Path = typer.Option(..., "--corpus", help="Motion corpus folder (from `candor corpus build`)."),
    out: Path = typer.Option(Path("out/motion"), "--out", help="Run folder: last.pt, motion_dit.pt, loss.png."),
    steps: int = typer.Option(6000, "--steps", help="Optimizer steps in total (a resumed run continues to it)."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop (and save) after this long."),
    batch_size: int = typer.Option(64, "--batch-size", help="Windows per step (per process)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    threads: int = typer.Option(1, "--threads", help="CPU threads (one is fastest on a busy machine)."),
    augment: float = typer.Option(0.5, "--augment", help="Share of windows with perturbed audio features (0-1)."),
    mouth_weight: float = typer.Option(2.0, "--mouth-weight", help="Loss weight of the lip-sync fields."),
    telephone: float = typer.Option(
        0.0, "--telephone", help="Share of windows heard through a telephone channel (8 kHz band, noise, gain)."
    ),
    extra_corpus: list[Path] = typer.Option(
        [], "--extra-corpus", help="Another corpus folder to train on too (repeatable), e.g. `candor corpus real`."
    ),
    init: Path | None = typer.Option(None, "--init", help="Fine-tune from this checkpoint (keeps its normalization)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: the recipe's)."),
    warmup: int | None = typer.Option(None, "--warmup", help="Warm-up steps (default: the recipe's)."),
) -> None:
    """Train the motion diffusion transformer (CUDA if available; several GPUs with
    `torchrun --nproc_per_node=N -m candor.cli train motion ...`)."""
    from candor.commands._common import progress_bar
    from candor.training.motion_trainer import TrainConfig, train

    for folder in (corpus, *extra_corpus):
        if not folder.is_dir():
            raise fail(f"corpus folder not found: {folder}")
    if init is not None and not init.is_file():
        raise fail(f"checkpoint to fine-tune from not found: {init}")
    recipe = {k: v for k, v in {"lr": lr, "warmup": warmup}.items() if v is not None}
    cfg = TrainConfig(
        corpus=corpus,
        out=out,
        steps=steps,
        max_minutes=max_minutes,
        batch_size=batch_size,
        resume=resume,
        threads=threads,
        augment=augment,
        mouth_weight=mouth_weight,
        telephone=telephone,
        extra_corpora=tuple(extra_corpus),
        init=init,
        **recipe,
    )
    done = {"step": 0}

    with progress_bar("training motion model", steps) as advance:

        def on_step(step: int, total: int, info: dict) -> None:
            advance(step - done["step"])
            done["step"] = step
            if "val" in info:
                err_console.print(f"step {step}: train {info['loss']:.4f}, held-out {info['val']:.4f}")

        path = train(cfg, on_step=on_step)
    console.print(f"checkpoint: {path}  loss curve: {out / 'loss.png'}")


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")

    @app.command()
    @cli_errors
    def generate(
        image: str = typer.Option(..., "--image", help="Portrait file, or bundled:astronaut / bundled:grace_hopper."),
        audio: Path = typer.Option(..., "--audio", help="Speech audio (any format; at most 120 s by default)."),
        out: Path = typer.Option(Path("out/generate.mp4"), "-o", "--out", help="Output MP4 (512x512)."),
        gaze: str | None = typer.Option(None, "--gaze", help="Main gaze direction YAW,PITCH in degrees."),
        distance: float = typer.Option(1.0, "--distance", help=f"Head distance, {DISTANCE} (2 = twice as far)."),
        emotion: str = typer.Option("neutral", "--emotion", help="NAME[:INTENSITY], e.g. happy:0.7."),
        cfg_audio: float | None = typer.Option(None, "--cfg-audio", help="Audio guidance scale (default: model's)."),
        cfg_control: float | None = typer.Option(None, "--cfg-control", help="Control guidance scale."),
        steps: int | None = typer.Option(None, "--steps", help="Denoising steps per window (default: model's)."),
        seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same video."),
        fps: int = typer.Option(DEFAULT_FPS, "--fps", help=f"Frame rate, {FPS}."),
        contact_sheet: Path | None = typer.Option(
            None, "--contact-sheet", help="Also write a PNG of every 10th frame (up to 16)."
        ),
        checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Motion model (default: the packaged one)."),
        keep_framing: bool = typer.Option(False, help="Keep the photo's framing."),
        face: int | None = typer.Option(None, "--face", help="Which face to use when there are several (0 = largest)."),
    ) -> None:
        """Make a talking-face video from one portrait and one speech clip."""
        from candor.commands._analysis import PortraitAnalysis
        from candor.generator.controls import SAMPLE_RATE, Controls

        yaw, pitch = _parse_gaze(gaze)
        name, intensity = Controls.parse_emotion(emotion)
        controls = Controls(
            gaze_yaw=yaw,
            gaze_pitch=pitch,
            distance=distance,
            emotion=name,
            intensity=0.0 if name == "neutral" else intensity,
        )
        # The portrait is analysed on the other core while this one imports torch and the models.
        with PortraitAnalysis(image, keep_framing, face) as analysis, loading_models():
            import torch

            from candor.commands._common import container
            from candor.commands.generator import _noted
            from candor.config import get_settings
            from candor.generator.audio import frame_count, load_audio
            from candor.generator.motion_generator import MotionGenerator
            from candor.generator.pipeline import TalkingFacePipeline

            # Bad, empty or too-long audio fails here, before any other error is reported.
            samples = load_audio(audio, max_seconds=get_settings().max_audio_seconds)
            torch.set_num_threads(1)  # one thread for motion, the main thread renders: both cores busy
            # What does not need the portrait is made while its analysis finishes.
            generator = MotionGenerator.from_checkpoint(checkpoint)
            container()  # the release path's database and keys, ready before the first frame
            source = _noted(analysis.result())
            pipeline = TalkingFacePipeline.for_portrait(source, motion_generator=generator)
        frames = pipeline.frames(
            samples, controls, seed=seed, fps=fps, cfg_audio=cfg_audio, cfg_control=cfg_control, steps=steps
        )
        result = _write_video(
            frames, frame_count(len(samples), fps), out, fps=fps, audio=audio, sheet=contact_sheet, image=image,
            source=source, controls=controls.as_record(seed=seed, fps=fps), checkpoint=checkpoint,
        )  # fmt: skip
        console.print(f"wrote {out} ({result.frames} frames, {len(samples) / SAMPLE_RATE:.1f} s)")


def _write_video(frames, n_frames: int, out: Path, *, fps: int, audio: Path, sheet: Path | None, image: str,
                 source, controls: dict, checkpoint: Path | None):  # fmt: skip
    """The one place `generate` writes its MP4: the release path (watermark + signed credentials),
    with a contact sheet of every 10th frame (up to 16) when asked."""
    from candor.commands.generator import _portrait_bytes, release_video
    from candor.generator.motion_generator import DEFAULT_CHECKPOINT

    return release_video(
        frames, n_frames, out, fps=fps, audio=audio, sheet=sheet, portrait=_portrait_bytes(image, source),
        controls=controls, checkpoint=checkpoint or DEFAULT_CHECKPOINT, sheet_stride=10,
    )  # fmt: skip
