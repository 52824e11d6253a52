"""Provenance commands: `keys init|rotate|show` (signing keys), `sign`, `verify`.

`candor verify` exit codes, for scripts:
  0  proven Candor output: trusted Content Credentials, or credentials stripped but recovered
     through the watermark from this service's manifest repository
  1  no Content Credentials and no Candor watermark found
  2  usage or input error (unreadable file...)
  3  invalid / tampered credentials, an untrusted signer, a watermark that contradicts the manifest,
     or a watermark whose manifest this repository does not hold
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from candor.commands._common import cli_errors, console, container, err_console, forget_container


def _settings():
    from candor.config import get_settings

    return get_settings()


def _passphrase() -> bytes:
    from candor.services.container import key_passphrase

    return key_passphrase(_settings())


def keys_init(
    organization: str = typer.Option("Candor", help="Organization named in the certificates."),
) -> None:
    """Create the offline root CA and the ES256 claim-signing certificate (keys encrypted at rest)."""
    from candor.provenance.keys import KeyStore, fingerprint

    settings = _settings()
    store = KeyStore(settings.resolved_keys_dir)
    identity = store.init(_passphrase(), organization=organization)
    forget_container()  # a container built earlier in this process holds the old keys
    console.print(f"signing keys created in [bold]{store.directory}[/]")
    console.print(f"  signing certificate: {identity.certificate.subject.rfc4514_string()}")
    console.print(f"  sha256 {fingerprint(identity.certificate)}")
    console.print(f"  valid until {identity.certificate.not_valid_after_utc:%Y-%m-%d}")
    if settings.key_passphrase is None and settings.key_passphrase_file is None:
        err_console.print(
            "[yellow]note:[/] development passphrase file used; set CANDOR_KEY_PASSPHRASE(_FILE) for real keys"
        )
    err_console.print("[yellow]note:[/] move roots/*.key.pem offline; it is needed only to rotate")


def keys_rotate(
    root: bool = typer.Option(False, "--root", help="Also start a new root CA (old roots stay trusted)."),
) -> None:
    """Issue a new signing certificate; earlier outputs stay verifiable (their roots stay anchors)."""
    from candor.provenance.keys import KeyStore, fingerprint

    store = KeyStore(_settings().resolved_keys_dir)
    identity = store.rotate(_passphrase(), new_root=root)
    forget_container()
    console.print(f"new signing certificate sha256 {fingerprint(identity.certificate)}")
    console.print(f"  {len(store.signing_certificates())} signing certificates, {len(store.root_certificates())} roots")


def keys_show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the root(s) and signing certificates (no secrets)."""
    from candor.provenance.keys import KeyStore

    info = KeyStore(_settings().resolved_keys_dir).describe()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console.print(f"key store {info['directory']}  current: {info['current']}")
    for kind in ("roots", "signing"):
        for cert in info[kind]:  # type: ignore[union-attr]
            mark = "*" if cert["id"] in info["current"].values() else " "  # type: ignore[union-attr]
            console.print(f" {mark} {kind:7s} {cert['id']}  {cert['subject']}  until {cert['not_after'][:10]}")


def sign(
    video: Path = typer.Argument(..., help="MP4 to credential (re-encoded once to embed the watermark)."),
    portrait: Path = typer.Option(..., "--portrait", help="The portrait the video was made from."),
    audio: Path = typer.Option(..., "--audio", help="The audio the video was made from."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Default: VIDEO.signed.mp4"),
    partner: str = typer.Option("local", "--partner", help="Partner id (stored only as a pseudonym)."),
    consent_id: str | None = typer.Option(None, "--consent-id", help="Likeness consent record id."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="Model checkpoint to hash."),
) -> None:
    """Watermark VIDEO, sign C2PA Content Credentials into it, store the manifest and log it."""
    from candor.provenance.watermark import WATERMARK_ALG, binding_value

    releaser = container().releaser
    out = output or video.with_name(f"{video.stem}.signed.mp4")
    claim = releaser.claim(
        generation_id=f"gen_{uuid.uuid4().hex}", partner_id=partner, consent_id=consent_id, checkpoint=checkpoint
    )
    with console.status("watermarking and signing"):
        result = releaser.release_file(video, out, claim=claim, portrait=portrait, audio=audio)
    releaser.record(result)
    console.print(f"signed [bold]{out}[/]")
    console.print(f"  manifest {result.manifest_id}")
    console.print(f"  watermark serial {result.serial} ({WATERMARK_ALG} value {binding_value(result.serial)})")


def verify(
    file: Path = typer.Argument(..., help="The video to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    watermark: bool = typer.Option(True, "--watermark/--no-watermark", help="Also decode the watermark."),
) -> None:
    """Check Content Credentials and the watermark. Exit 0 proven, 1 nothing found, 3 invalid/untrusted."""
    report = container().verifier.verify_file(file, detect_watermark=watermark)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(report.exit_code)


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    colour = {0: "green", 1: "yellow", 3: "red"}[report.exit_code]
    console.print(f"[bold {colour}]{report.verdict}[/]")
    console.print(
        f"  manifest: {report.state.value}" + (f" ({', '.join(report.failure_codes)})" if report.failure_codes else "")
    )
    summary = report.summary or (report.recovered.summary if report.recovered else None)
    if report.recovered:
        console.print(
            f"  recovered from the repository: {report.recovered.manifest_id} "
            f"(signature {report.recovered.signature_state.value})"
        )
    if summary:
        console.print(f"  signer: {summary.signer} ({summary.issuer})")
        console.print(
            f"  AI-generated: {'yes' if summary.ai_generated else 'no'}  source type: {summary.digital_source_type}"
        )
        if summary.generation:
            g = summary.generation
            console.print(
                f"  generation {g.get('generation_id')}  partner {g.get('partner')}  consent {g.get('consent_id')}"
            )
    if report.watermark is not None:
        w = report.watermark
        found = f"serial {w.serial} ({w.binding_value})" if w.found else "not found"
        console.print(f"  watermark: {found}  confidence {w.confidence:.3f}  frames {w.frames_used}")
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {note}")


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    keys_app.command("init")(cli_errors(keys_init))
    keys_app.command("rotate")(cli_errors(keys_rotate))
    keys_app.command("show")(cli_errors(keys_show))
    app.command("sign")(cli_errors(sign))
    app.command("verify")(cli_errors(verify))
