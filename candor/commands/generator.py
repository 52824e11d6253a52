"""Generator commands: analyze, animate, reenact, demo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, err_console, fail, progress_bar
from candor.generator.controls import DEFAULT_FPS, FPS


def _portrait_sources() -> dict[str, str]:
    return {
        "astronaut": "skimage's astronaut (Eileen Collins, NASA, public domain)",
        "grace_hopper": "matplotlib's grace_hopper (public domain)",
    }


def load_bundled_portrait(name: str):
    """A bundled public-domain portrait as an RGB array: 'astronaut' or 'grace_hopper'."""
    import numpy as np

    if name == "astronaut":
        import skimage.data

        return skimage.data.astronaut()
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
            return np.asarray(img.convert("RGB"))
    from candor.errors import InvalidInput

    raise InvalidInput(f"unknown bundled portrait {name!r}; choose one of {', '.join(_portrait_sources())}")


def _image_arg(image: str):
    """A path, or 'bundled:astronaut' / 'bundled:grace_hopper'."""
    if image.startswith("bundled:"):
        return load_bundled_portrait(image.split(":", 1)[1])
    return Path(image)


def _analyze(image: str, keep_framing: bool, face: int | None):
    from candor.generator.face import analyze_image

    return _noted(analyze_image(_image_arg(image), keep_framing=keep_framing, face_index=face))


def _noted(source):
    for note in source.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    return source


def _portrait_bytes(image: str, source) -> tuple[bytes, str]:
    """The portrait as given (file bytes), or the bundled array as PNG, for the credentials."""
    import io
    import mimetypes

    from PIL import Image

    if not image.startswith("bundled:"):
        path = Path(image)
        return path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    buf = io.BytesIO()
    Image.fromarray(source.image).save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def release_video(
    frames,
    n_frames: int,
    out: Path,
    *,
    fps: int,
    audio: Path | None,
    sheet: Path | None,
    portrait: tuple[bytes, str],
    controls: dict | None = None,
    checkpoint: Path | None = None,
    sheet_stride: int | None = None,
):
    """Every video the CLI writes: the release path (watermark, signed credentials, manifest stored,
    the release logged with the local operator as actor) with a progress bar; optionally a contact
    sheet of up to 16 frames, every ``sheet_stride``-th (default: spread over the whole video)."""
    import uuid

    from candor.commands._common import container
    from candor.generator.contact import save_contact_sheet

    releaser = container().releaser
    kept: list = []
    stride = sheet_stride or max(1, n_frames // 16)

    def tap(stream):
        for i, frame in enumerate(stream):
            if sheet is not None and i % stride == 0 and len(kept) < 16:
                kept.append((frame, f"frame {i}"))
            yield frame

    claim = releaser.claim(generation_id=f"cli-{uuid.uuid4().hex[:16]}", controls=controls, checkpoint=checkpoint)
    with progress_bar("rendering", n_frames) as advance:
        result = releaser.release_frames(
            tap(frames), out_path=out, fps=fps, claim=claim, portrait=portrait[0], portrait_mime=portrait[1],
            audio_path=audio, on_frame=lambda _n: advance(1),
        )  # fmt: skip
    releaser.record(result)
    if sheet is not None:
        save_contact_sheet(sheet, [f for f, _ in kept], [label for _, label in kept])
        console.print(f"contact sheet: {sheet}")
    console.print(
        f"signed + watermarked: manifest {result.manifest_id}, watermark serial {result.serial}; "
        f"check it with `candor verify {out}`"
    )
    return result


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    def analyze(
        image: str = typer.Argument(
            ..., help="Portrait file (PNG/JPEG/WebP...) or bundled:astronaut / bundled:grace_hopper."
        ),
        overlay: Path | None = typer.Option(
            None, "--overlay", help="Landmark overlay PNG (default out/<name>-landmarks.png)."
        ),
        keep_framing: bool = typer.Option(False, help="Keep the photo's framing instead of auto-framing the head."),
        face: int | None = typer.Option(None, "--face", help="Which face to use when there are several (0 = largest)."),
        as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
    ) -> None:
        """Find the face, estimate its head pose and write a landmark overlay PNG."""
        import cv2

        from candor.generator import landmarks as L

        source = _analyze(image, keep_framing, face)
        name = Path(image.split(":", 1)[-1]).stem
        overlay = overlay or Path("out") / f"{name}-landmarks.png"
        overlay.parent.mkdir(parents=True, exist_ok=True)
        canvas = cv2.cvtColor(source.image, cv2.COLOR_RGB2BGR)
        for x, y, _ in source.landmarks[: L.N_SURFACE]:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 1, (80, 255, 80), -1, cv2.LINE_AA)
        for x, y, _ in source.landmarks[L.N_SURFACE :]:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 1, (255, 120, 0), -1, cv2.LINE_AA)
        cv2.imwrite(str(overlay), canvas)
        yaw, pitch, roll, tx, ty, scale = (float(v) for v in source.pose)
        box = source.box
        result = {
            "faces_found": source.faces_found,
            "face_box_px": [round(v, 1) for v in (box.x0, box.y0, box.x1, box.y1)] if box else None,
            "pose": {"yaw_deg": yaw, "pitch_deg": pitch, "roll_deg": roll, "tx": tx, "ty": ty, "scale": scale},
            "overlay": str(overlay),
            "notes": source.notes,
        }
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        console.print(f"faces found: {source.faces_found}")
        if box:
            console.print(f"face box (px in the input): ({box.x0:.0f}, {box.y0:.0f}) - ({box.x1:.0f}, {box.y1:.0f})")
        console.print(f"pose: yaw {yaw:+.1f} deg, pitch {pitch:+.1f} deg, roll {roll:+.1f} deg, scale {scale:.2f}")
        console.print(f"overlay: {overlay}")

    @app.command()
    @cli_errors
    def animate(
        image: str = typer.Argument(..., help="Portrait file or bundled:astronaut / bundled:grace_hopper."),
        motion_file: Path = typer.Option(..., "--motion", help="Motion sequence .npy (T x DIM) or .npz."),
        audio: Path | None = typer.Option(None, "--audio", help="Audio to mux into the video."),
        out: Path = typer.Option(Path("out/animate.mp4"), "-o", "--out", help="Output MP4."),
        fps: int | None = typer.Option(None, help=f"Frame rate (default: the motion file's, else {DEFAULT_FPS})."),
        relative: bool = typer.Option(
            False, help="Treat the motion as offsets around the portrait's own pose/expression."
        ),
        contact_sheet: Path | None = typer.Option(None, "--contact-sheet", help="Also write a PNG of sampled frames."),
        keep_framing: bool = typer.Option(False, help="Keep the photo's framing."),
        face: int | None = typer.Option(None, "--face", help="Which face to use (0 = largest)."),
    ) -> None:
        """Render a motion sequence on a portrait into an MP4."""
        from candor.generator.animator import Animator, relative_to_source
        from candor.generator.motion import MotionSequence

        seq = MotionSequence.load(motion_file, fps=fps)
        source = _analyze(image, keep_framing, face)
        if relative:
            seq = MotionSequence(relative_to_source(source, seq.values), seq.fps)
        animator = Animator(source)
        release_video(
            animator.frames(seq), len(seq), out, fps=round(seq.fps), audio=audio, sheet=contact_sheet,
            portrait=_portrait_bytes(image, source),
        )  # fmt: skip
        console.print(f"wrote {out} ({len(seq)} frames, {seq.duration:.1f} s)")

    @app.command()
    @cli_errors
    def reenact(
        image: str = typer.Argument(..., help="Portrait file or bundled:astronaut / bundled:grace_hopper."),
        driving: Path = typer.Option(..., "--driving", help="Driving video whose motion is transferred."),
        out: Path = typer.Option(Path("out/reenact.mp4"), "-o", "--out", help="Output MP4."),
        pose: bool = typer.Option(True, "--pose/--no-pose", help="Transfer head pose."),
        dynamics: bool = typer.Option(
            True, "--dynamics/--no-dynamics", help="Transfer facial dynamics (mouth, eyes, brows)."
        ),
        gaze: bool = typer.Option(True, "--gaze/--no-gaze", help="Transfer eye gaze."),
        audio: bool = typer.Option(True, "--audio/--no-audio", help="Mux the driving video's audio, if it has any."),
        max_seconds: float = typer.Option(120.0, help="Refuse driving videos longer than this."),
        contact_sheet: Path | None = typer.Option(None, "--contact-sheet", help="Also write a PNG of sampled frames."),
        keep_framing: bool = typer.Option(False, help="Keep the photo's framing."),
        face: int | None = typer.Option(None, "--face", help="Which face to use (0 = largest)."),
    ) -> None:
        """Extract motion from a driving video and re-enact it on the portrait."""
        from candor.generator.animator import Animator
        from candor.generator.extract import extract_motion
        from candor.generator.reenact import transfer_motion
        from candor.generator.video import probe

        info = probe(driving)
        if info.duration > max_seconds:
            raise fail(f"driving video is {info.duration:.0f} s long; the limit is {max_seconds:.0f} s")
        source = _analyze(image, keep_framing, face)
        with progress_bar("extracting motion", info.frames) as advance:
            driving_motion = extract_motion(driving, progress=advance)
        seq = transfer_motion(source, driving_motion, pose=pose, dynamics=dynamics, gaze=gaze)
        fps = max(FPS.low, min(FPS.high, round(seq.fps)))
        audio_path = driving if (audio and info.audio_duration) else None
        release_video(
            Animator(source).frames(seq), len(seq), out, fps=fps, audio=audio_path, sheet=contact_sheet,
            portrait=_portrait_bytes(image, source),
        )  # fmt: skip
        console.print(f"wrote {out} ({len(seq)} frames)")

    @app.command()
    @cli_errors
    def demo(
        out: Path = typer.Option(Path("out/demo.mp4"), "-o", "--out", help="Output MP4."),
        portrait: str = typer.Option("astronaut", help="Bundled portrait: astronaut or grace_hopper."),
        seconds: float = typer.Option(6.0, help="Length of the scripted performance."),
        fps: int = typer.Option(DEFAULT_FPS, help="Frame rate."),
    ) -> None:
        """Render a scripted performance (speech-like mouth, blinks, a nod, a look aside) of a bundled portrait."""
        from candor.generator.animator import Animator, relative_to_source
        from candor.generator.face import analyze_image
        from candor.generator.motion import MotionSequence
        from candor.generator.performance import scripted_offsets

        source = analyze_image(load_bundled_portrait(portrait))
        seq = MotionSequence(relative_to_source(source, scripted_offsets(seconds, fps)), fps)
        sheet = out.with_suffix(".png")
        release_video(
            Animator(source).frames(seq), len(seq), out, fps=fps, audio=None, sheet=sheet,
            portrait=_portrait_bytes(f"bundled:{portrait}", source),
        )  # fmt: skip
        console.print(f"[bold green]demo video:[/] {out.resolve()}")
