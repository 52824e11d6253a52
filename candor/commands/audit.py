"""Audit commands: `audit export`, `audit verify`, `audit proof`, `audit checkpoint`.

`candor audit verify` exit codes, for scripts:
  0  every entry is covered by a valid signed checkpoint and nothing was altered
  1  tampering found (the first altered entry is named) or nothing could be verified
  2  usage or input error (unreadable or malformed export, bad key file)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from candor.commands._common import cli_errors, console, err_console, fail
from candor.errors import InvalidProof, NotFound

audit_app = typer.Typer(help="The tamper-evident generation log: export, verify, prove.", no_args_is_help=True)


def _open_log(*, signed: bool = False) -> Any:
    """The configured database's generation log; ``signed`` loads the service key to sign heads."""
    from sqlalchemy import inspect

    from candor.config import get_settings
    from candor.services.container import checkpoint_signer
    from candor.services.generation_log import GenerationLog
    from candor.store.database import make_engine

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    if not inspect(engine).has_table("audit_log_head"):
        raise fail(f"no generation log in {settings.resolved_database_url}: start the service or migrate first")
    # An audit reads what is there: it neither migrates nor (unless asked to sign) loads keys.
    return GenerationLog(engine, signer=checkpoint_signer(settings) if signed else None)


def _trusted_keys(pem_files: list[Path]) -> list[Any]:
    """Keys from --public-key files, else every signing certificate of the local key store."""
    from candor.config import get_settings
    from candor.provenance.checkpoint import load_public_key
    from candor.provenance.keys import KeyStore

    if pem_files:
        keys = []
        for path in pem_files:
            try:
                keys.append(load_public_key(path.read_bytes()))
            except OSError as exc:
                raise fail(f"cannot read {path}: {exc.strerror}") from None
        return keys
    store = KeyStore(get_settings().resolved_keys_dir)
    return [cert.public_key() for _, cert in store.signing_certificates()] if store.exists() else []


def export(
    output: Path = typer.Option(..., "-o", "--output", help="JSONL file to write (replaced atomically)."),
) -> None:
    """Export every entry and signed checkpoint for an offline audit."""
    from candor.provenance.audit import write_export

    log = _open_log()
    count = write_export(log, output)
    console.print(f"exported {count} entries and their checkpoints to [bold]{output}[/]", highlight=False)


def verify(
    file: Path = typer.Argument(..., help="An export written by `candor audit export`."),
    public_key: list[Path] = typer.Option(
        [], "--public-key", help="Trusted checkpoint key or certificate, PEM (repeatable; default: local key store)."
    ),
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint", help="A checkpoint note saved earlier; it must be a prefix of the export (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute the whole log offline; name the first entry modified, removed or reordered."""
    from candor.provenance.audit import verify_log_export

    notes = []
    for path in checkpoint:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read checkpoint {path}: {exc}") from None
    report = verify_log_export(file, _trusted_keys(public_key), trusted_checkpoints=notes)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "signed_checkpoints": report.checkpoints,
                    "key_source": report.key_source,
                    "first_bad_index": report.first_bad_index,
                    "findings": [vars(f) for f in report.findings],
                },
                indent=2,
            )
        )
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    if report.key_source == "export":
        err_console.print("[yellow]warning:[/] checkpoints checked with the key inside the export; pass --public-key")
    console.print(f"{report.entries} entries, {report.checkpoints} valid signed checkpoints", highlight=False)
    if report.key_source == "none":
        console.print("[bold red]NOT VERIFIED[/]: no public key to check checkpoint signatures")
    for finding in report.findings:
        where = f" (line {finding.line})" if finding.line is not None and finding.line > 0 else ""
        console.print(f"  [red]{finding.kind}[/]{where}: {finding.detail}", highlight=False)
    if report.first_bad_index is not None:
        console.print(f"[bold red]TAMPERED[/]: first altered entry is {report.first_bad_index}")
    elif report.ok:
        console.print(f"[bold green]OK[/]: root {report.root.hex()}")


def proof(
    index: int = typer.Argument(..., help="Entry index."),
    tree_size: int | None = typer.Option(None, "--tree-size", help="Prove against this size (default: current)."),
) -> None:
    """Print entry INDEX with its inclusion proof, checked against the latest signed checkpoint."""
    from candor.provenance.checkpoint import verify_checkpoint

    log = _open_log()
    entry = log.entry(index)
    size = tree_size
    keys = _trusted_keys([])
    latest = None
    if size is None:
        try:
            latest = log.latest_checkpoint()
            size = latest.size
        except NotFound:  # no checkpoint yet: prove against the unsigned head
            latest = None
    inclusion = log.inclusion_proof(index, size)
    inclusion.verify()
    out = {"entry": entry.to_dict(), "proof": inclusion.to_dict()}
    if latest is not None:
        out["checkpoint"] = latest.note
        for key in keys:
            try:
                verify_checkpoint(latest.note, key)
            except InvalidProof:
                continue  # signed by another key generation
            out["checkpoint_signature"] = "valid"
            break
        else:
            out["checkpoint_signature"] = "unverified (no matching key in the local key store)"
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


def checkpoint() -> None:
    """Print the latest signed checkpoint (signing the current head first); save it to audit later."""
    typer.echo(_open_log(signed=True).latest_checkpoint().note, nl=False)


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    audit_app.command("export")(cli_errors(export))
    audit_app.command("verify")(cli_errors(verify))
    audit_app.command("proof")(cli_errors(proof))
    audit_app.command("checkpoint")(cli_errors(checkpoint))
    app.add_typer(audit_app, name="audit")
