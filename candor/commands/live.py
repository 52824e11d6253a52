"""``candor live``: stream speech to a running ``candor serve`` over ``/v1/live`` at real-time pace
and keep what comes back: the watermarked frames (JPEG) and the signed recording of the session."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, fail


def _stdin_chunks(rate: int, chunk_s: float):  # -> Iterator[np.ndarray]
    """Raw PCM16 little-endian mono from stdin, as it arrives."""
    import numpy as np

    size = 2 * max(1, int(rate * chunk_s))
    carry = b""
    while True:
        data = sys.stdin.buffer.read(size)
        if not data:
            break
        data, carry = carry + data, b""
        if len(data) % 2:
            data, carry = data[:-1], data[-1:]
        yield np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    @app.command("live")
    @cli_errors
    def live(
        consent: str = typer.Option(..., "--consent", help="Consent id (cns_...) the portrait is enrolled under."),
        portrait: str = typer.Option(..., "--portrait", "--image", help="Enrolled portrait id (prt_...)."),
        audio: str = typer.Option(..., "--audio", help="Audio file (any format), or - for raw PCM16 mono on stdin."),
        rate: int = typer.Option(16000, help="Sample rate of stdin PCM (Hz); files are decoded to 16 kHz."),
        url: str = typer.Option("ws://127.0.0.1:8000/v1/live", help="The live endpoint."),
        key: str = typer.Option(..., "--key", envvar="CANDOR_API_KEY", help="A partner key with generate."),
        output: Path | None = typer.Option(None, "-o", "--output", help="Save the signed recording here."),
        frames_dir: Path | None = typer.Option(None, "--frames", help="Save each received frame as JPEG here."),
        gaze: str | None = typer.Option(None, help="YAW,PITCH in degrees."),
        distance: float | None = typer.Option(None, help="Head distance (1 = default framing)."),
        emotion: str | None = typer.Option(None, help="NAME or NAME:INTENSITY."),
        seed: int = typer.Option(0, help="Seed of the motion sampler."),
        chunk_ms: int = typer.Option(20, help="Audio chunk length (ms)."),
    ) -> None:
        """Stream AUDIO live and keep the frames and the signed recording. Exit 0 when recorded."""
        import httpx

        from candor.client import LiveClient
        from candor.generator.controls import Controls

        controls: dict = {}
        if gaze:
            try:
                controls["gaze_yaw"], controls["gaze_pitch"] = (float(v) for v in gaze.split(","))
            except ValueError:
                raise fail("--gaze must look like YAW,PITCH (degrees)") from None
        if distance is not None:
            controls["distance"] = distance
        if emotion:
            controls["emotion"], controls["intensity"] = Controls.parse_emotion(emotion)
        if audio == "-":
            samples, sample_rate = _stdin_chunks(rate, chunk_ms / 1000), rate
        else:
            from candor.generator.audio import load_audio

            samples, sample_rate = load_audio(audio, max_seconds=None), 16000
        if frames_dir is not None:
            frames_dir.mkdir(parents=True, exist_ok=True)

        def keep(frame) -> None:  # a candor.client.LiveFrame
            if frames_dir is not None:
                (frames_dir / f"frame_{frame.index:06d}.jpg").write_bytes(frame.jpeg)

        result = LiveClient(url, key).run(
            samples, consent_id=consent, portrait_id=portrait, sample_rate=sample_rate, controls=controls,
            seed=seed, chunk_s=chunk_ms / 1000, on_frame=keep,
        )  # fmt: skip
        recorded = result.recorded
        console.print(f"{len(result.frames)} frames received; closed {result.close_code} {result.close_reason}")
        if recorded is None:
            raise fail("the session was not recorded", code=1)
        console.print(f"recorded {recorded['generation_id']}: {recorded['frames']} frames, {recorded['duration_s']} s")
        if output is not None and recorded.get("video"):
            base = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rsplit("/v1/live", 1)[0]
            response = httpx.get(base + recorded["video"], headers={"Authorization": f"Bearer {key}"}, timeout=60)
            if response.status_code != 200:
                raise fail(f"downloading the recording failed: HTTP {response.status_code}", code=1)
            output.write_bytes(response.content)
            console.print(f"signed recording -> {output} (check it with: candor verify {output})")
        raise typer.Exit(0 if result.close_code == 1000 else 1)
