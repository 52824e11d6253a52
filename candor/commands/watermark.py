"""``candor watermark detect``: look for the invisible watermark by hand, for debugging.

There is deliberately no ``embed``: a watermark carries a generation's serial and resolves to its
signed manifest, so marking a video is only done by the release path (``candor sign`` for an MP4
made elsewhere), which allocates a fresh serial, signs and logs it. A free-standing embedder would
let anyone holding the key make any video resolve to an existing generation's record.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    wm = typer.Typer(help="Candor's invisible video watermark: detect it (debugging).", no_args_is_help=True)
    app.add_typer(wm, name="watermark")

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
