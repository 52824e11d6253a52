"""``candor watermark embed|detect``: the invisible watermark by hand, for debugging."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    wm = typer.Typer(help="Candor's invisible video watermark (debugging).", no_args_is_help=True)
    app.add_typer(wm, name="watermark")

    @wm.command("embed")
    @cli_errors
    def embed(
        video: Path = typer.Argument(..., help="Input video (any FFmpeg-readable file)."),
        serial: int = typer.Option(..., "--serial", help="Generation serial to carry (0 .. 2^32-1)."),
        out: Path = typer.Option(..., "-o", "--out", help="Output MP4."),
        crf: int = typer.Option(18, help="x264 constant rate factor of the re-encode."),
    ) -> None:
        """Re-encode VIDEO with the watermark carrying SERIAL (audio copied)."""
        from candor.config import get_settings
        from candor.provenance.watermark import binding_value, embed_video
        from candor.services.container import watermark_key

        key = watermark_key(get_settings())
        embed_video(video, out, key, serial, crf=crf)
        console.print(f"wrote {out} (serial {serial}, binding {binding_value(serial)})")

    @wm.command("detect")
    @cli_errors
    def detect(
        video: Path = typer.Argument(..., help="Video to inspect."),
        as_json: bool = typer.Option(False, "--json", help="Print the detection as JSON."),
        max_seconds: float = typer.Option(20.0, help="Seconds of video to read (0: all)."),
    ) -> None:
        """Look for Candor's watermark in VIDEO. Exit 0 if found, 1 if not."""
        from candor.config import get_settings
        from candor.provenance.watermark import detect_video
        from candor.services.container import watermark_key

        key = watermark_key(get_settings())
        result = detect_video(video, key, max_seconds=max_seconds or None)
        if as_json:
            typer.echo(json.dumps(result.to_dict()))
        elif result.found:
            console.print(
                f"watermark found: serial {result.serial}, confidence {result.confidence:.6f}, "
                f"bit accuracy {result.bit_accuracy:.3f}, {result.frames_used} frames"
            )
        else:
            console.print(f"no watermark ({result.frames_used} frames)")
        raise typer.Exit(0 if result.found else 1)
