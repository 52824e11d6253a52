"""`candor serve`, `candor partners ...`, `candor operators|auditors ...` (principals apart from
partners), `candor keys issue|revoke|list` (API keys), `candor consents erase` (a data subject)
and `candor maintenance` (retention and unreferenced files).

Top-level imports are typer/rich/stdlib only; the service stack loads inside each command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from candor.commands._common import cli_errors, console, container, err_console

partners_app = typer.Typer(help="Vetted partners: add, approve, suspend, list.", no_args_is_help=True)
db_app = typer.Typer(help="The service database: its one migration history.", no_args_is_help=True)

operators_app = typer.Typer(
    help="Operators: read partners, vetting states and quotas over the API (scope admin).", no_args_is_help=True
)
auditors_app = typer.Typer(
    help="Auditors: read the whole generation log and its proofs (scope audit:read); never generate.",
    no_args_is_help=True,
)

consents_app = typer.Typer(
    help="A data subject's consent records: erase one (the subject's data leaves Candor).", no_args_is_help=True
)

SCOPE_HELP = "comma-separated partner scopes: generate, detect, audit:read (its own log entries)"
EXPIRY_HELP = "days until the key stops working (0: never)"
DEFAULT_EXPIRY_DAYS = 90  # the service's DEFAULT_KEY_LIFETIME_DAYS, stated here for --help


@contextmanager
def _admin() -> Iterator[tuple[Any, Any]]:
    """(session, log) for one operator action: one committed transaction on the migrated database;
    operator actions go on the same signed log as the API's events."""
    from candor.store.database import session_scope

    built = container()
    with session_scope(built.session_factory) as session:
        yield session, built.ledger


def _print_partner(partner: Any) -> None:
    console.print(
        f"{partner.id}  {partner.name}  use case: {partner.use_case}  state: [bold]{partner.state}[/]",
        highlight=False,
        soft_wrap=True,
    )


# --- serve --------------------------------------------------------------------------------------


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind (loopback by default)"),
    port: int = typer.Option(8000, min=1, max=65535),
    processes: int = typer.Option(1, min=1, max=32, help="uvicorn worker processes"),
    job_workers: int | None = typer.Option(None, min=1, max=64, help="generation workers per process"),
    no_worker: bool = typer.Option(
        False, "--no-worker", "--api-only", help="serve the API only; jobs run in `candor worker` processes"
    ),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Run the HTTP API: migrate the database, start the job workers (unless --no-worker), serve with uvicorn."""
    import uvicorn

    from candor.config import get_settings

    # Settings are read from the environment in every uvicorn process, so pass them there.
    if job_workers is not None:
        os.environ["CANDOR_WORKERS"] = str(job_workers)
    if no_worker:
        os.environ["CANDOR_RUN_JOBS"] = "false"
    get_settings.cache_clear()
    container()  # migrated (and dev keys made) once, before the server processes start
    err_console.print(f"Candor API on http://{host}:{port}/v1 (docs at /docs)", highlight=False, soft_wrap=True)
    uvicorn.run(
        "candor.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_level=log_level,
        proxy_headers=False,
    )


# --- database -----------------------------------------------------------------------------------


@db_app.command("upgrade")
@cli_errors
def db_upgrade() -> None:
    """Bring the configured database to the newest schema (what `candor serve` does at start-up)."""
    from candor.config import get_settings
    from candor.store.migrations import current_revision

    built = container()  # migrates once
    console.print(
        f"database {get_settings().resolved_database_url} at revision {current_revision(built.engine)}",
        highlight=False,
        soft_wrap=True,
    )


# --- partners -----------------------------------------------------------------------------------


@partners_app.command("add")
@cli_errors
def partners_add(
    name: str = typer.Argument(..., help="the organisation's name"),
    use_case: str = typer.Option(..., "--use-case", help="education, healthcare, communication, ..."),
    quota_seconds: float | None = typer.Option(
        None, "--quota-seconds", min=0, help="monthly seconds of video (default: the policy's)"
    ),
) -> None:
    """Register a partner; it starts `pending` until approved after vetting."""
    from candor import services

    with _admin() as (session, log):
        partner = services.create_partner(
            session=session, log=log, name=name, use_case=use_case, monthly_quota_s=quota_seconds
        )
        _print_partner(partner)
        secret = partner.webhook_secret
    # The partner verifies our completion webhooks (Candor-Signature: HMAC-SHA256) with this.
    err_console.print(f"webhook signing secret (give it to the partner): {secret}", highlight=False, soft_wrap=True)


def _set_state(partner: str, state: str) -> None:
    from candor import services

    with _admin() as (session, log):
        _print_partner(services.set_partner_state(session=session, log=log, partner_id=partner, state=state))


@partners_app.command("approve")
@cli_errors
def partners_approve(partner: str = typer.Argument(..., help="partner id (ptn_...) or name")) -> None:
    """Approve a vetted partner: its keys start working on the next request."""
    _set_state(partner, "approved")


@partners_app.command("suspend")
@cli_errors
def partners_suspend(partner: str = typer.Argument(..., help="partner id (ptn_...) or name")) -> None:
    """Suspend a partner: every one of its keys stops working on the next request."""
    _set_state(partner, "suspended")


@partners_app.command("list")
@cli_errors
def partners_list() -> None:
    """Every partner with its vetting state."""
    from candor import services

    with _admin() as (session, _log):
        partners = services.list_partners(session=session)
        if not partners:
            console.print("no partners yet: `candor partners add NAME --use-case education`")
        for partner in partners:
            _print_partner(partner)


# --- partner API keys (`keys init|rotate|show` are the provenance signing keys) --------------------


def _print_issued(issued: Any, owner: str, note: str | None) -> None:
    key = issued.key
    expiry = f"expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "never expires"
    err_console.print(
        f"key {key.prefix} for {owner} (scopes: {', '.join(key.scopes)}; {expiry}). "
        "Store it now: it is shown only once.",
        highlight=False,
        soft_wrap=True,
    )
    if note:
        err_console.print(note, highlight=False, soft_wrap=True)
    typer.echo(issued.token)  # stdout carries only the key, so `$(candor keys issue ...)` captures it


def keys_issue(
    partner: str = typer.Argument(..., help="partner id (ptn_...) or name"),
    scopes: str = typer.Option("generate", "--scopes", help=SCOPE_HELP),
    name: str | None = typer.Option(None, "--name", help="a label for the key"),
    expires_in_days: float = typer.Option(DEFAULT_EXPIRY_DAYS, "--expires-in-days", min=0, help=EXPIRY_HELP),
) -> None:
    """Issue a partner API key; the full key is printed once and never stored. Partner keys never
    hold admin (`candor operators key`) nor the whole log (`candor auditors key`)."""
    from candor import services

    with _admin() as (session, log):
        issued = services.issue_api_key(
            session=session, log=log, partner_id=partner, scopes=scopes, name=name, expires_in_days=expires_in_days
        )
        owner = issued.key.partner_id
        state = issued.key.partner.state
    note = f"note: the partner is {state}; the key works once it is approved." if state != "approved" else None
    _print_issued(issued, owner, note)


def _principal_commands(app: typer.Typer, role: str) -> None:
    @app.command("add")
    @cli_errors
    def add(name: str = typer.Argument(..., help=f"the {role}'s name (a person or a team)")) -> None:
        from candor.services import principals

        with _admin() as (session, log):
            principal = principals.create_principal(session=session, log=log, name=name, role=role)
            console.print(f"{principal.id}  {principal.name}  role: {role}", highlight=False, soft_wrap=True)

    @app.command("list")
    @cli_errors
    def list_() -> None:
        from candor.services import principals

        with _admin() as (session, _log):
            found = principals.list_principals(session=session, role=role)
            if not found:
                console.print(f"no {role}s yet: `candor {role}s add NAME`")
            for principal in found:
                console.print(f"{principal.id}  {principal.name}  role: {role}", highlight=False, soft_wrap=True)

    @app.command("key")
    @cli_errors
    def key(
        principal_ref: str = typer.Argument(..., metavar="NAME", help=f"the {role}'s id (prn_...) or name"),
        name: str | None = typer.Option(None, "--name", help="a label for the key"),
        expires_in_days: float = typer.Option(DEFAULT_EXPIRY_DAYS, "--expires-in-days", min=0, help=EXPIRY_HELP),
    ) -> None:
        from candor.errors import InvalidInput
        from candor.services import principals

        with _admin() as (session, log):
            principal = principals.get_principal(session=session, principal_id=principal_ref)
            if principal.role != role:
                raise InvalidInput(f"{principal_ref} is an {principal.role}, not an {role}")
            issued = principals.issue_principal_key(
                session=session, log=log, principal_id=principal.id, name=name, expires_in_days=expires_in_days
            )
            owner = f"{role} {principal.id}"
        _print_issued(issued, owner, None)

    add.__doc__ = f"Register an {role} (a principal apart from every partner)."
    list_.__doc__ = f"Every {role}."
    key.__doc__ = f"Issue an API key for an {role}; printed once, never stored."


_principal_commands(operators_app, "operator")
_principal_commands(auditors_app, "auditor")


def keys_revoke(prefix: str = typer.Argument(..., help="the key's visible prefix (cnd_...) or id")) -> None:
    """Revoke a key at once."""
    from candor import services

    with _admin() as (session, log):
        key = services.revoke_api_key(session=session, log=log, key_id=prefix)
        console.print(f"revoked {key.prefix} ({key.partner_id or key.principal_id})", highlight=False, soft_wrap=True)


def keys_list(partner: str | None = typer.Argument(None, help="only this partner's keys")) -> None:
    """API keys (prefixes only; secrets are never stored)."""
    from candor import services

    with _admin() as (session, _log):
        keys = services.list_api_keys(session=session, partner_id=partner)
        if not keys:
            console.print("no API keys")
        for key in keys:
            status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            if key.expires_at and not key.revoked_at:
                status += f", expires {key.expires_at:%Y-%m-%d}"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            owner = key.partner_id or f"{key.role} {key.principal_id}"
            console.print(
                f"{key.prefix}  {owner}  scopes: {','.join(key.scopes)}  {status}  last used: {used}",
                highlight=False,
                soft_wrap=True,
            )


# --- data subjects and maintenance ----------------------------------------------------------------


@consents_app.command("erase")
@cli_errors
def consents_erase(
    consent: str = typer.Argument(..., help="the consent's id (cns_...)"),
    yes: bool = typer.Option(False, "--yes", help="erase without asking (it cannot be undone)"),
) -> None:
    """Erase a data subject: stop its jobs, remove the consent, portraits, evidence, reference, audio
    used only by it, its generations and outputs; the log keeps a tombstone without personal data."""
    from candor.services.erasure import erase_consent

    if not yes and not typer.confirm(f"Erase {consent} and everything of its subject? This cannot be undone"):
        raise typer.Exit(1)
    built = container()
    with built.session_factory() as session:
        erasure = erase_consent(session=session, log=built.ledger, files=built.files, consent_id=consent, actor="admin")
    console.print(
        f"erased {erasure.consent_id} (partner {erasure.partner_id}): {len(erasure.generations)} generation(s) "
        f"({len(erasure.stopped)} stopped), {erasure.portraits} portrait(s), {erasure.assets} audio clip(s), "
        f"{erasure.manifests} manifest(s) emptied, {erasure.files_deleted} file(s) deleted; "
        f"tombstone at log index {erasure.log_index}",
        highlight=False,
        soft_wrap=True,
    )


@cli_errors
def maintenance(
    retention_days: float | None = typer.Option(
        None, "--retention-days", min=0.0, help="override CANDOR_OUTPUT_RETENTION_DAYS for this run"
    ),
    garbage_hours: float = typer.Option(24.0, "--garbage-hours", min=0.0, help="unreferenced files older than this go"),
) -> None:
    """One maintenance pass: remove outputs past the retention period (status expired), then stored
    files no record refers to. `candor serve` runs it every CANDOR_MAINTENANCE_INTERVAL_S too."""
    from candor.services.maintenance import run_maintenance

    built = container()
    days = retention_days if retention_days is not None else built.settings.output_retention_days
    with built.session_factory() as session:
        report = run_maintenance(
            session=session,
            log=built.ledger,
            files=built.files,
            retention_days=days or None,
            garbage_older_than_s=garbage_hours * 3600.0,
        )
    kept = "outputs kept (no retention period)" if not days else f"{len(report.expired)} output(s) expired"
    console.print(f"{kept}; {report.files_removed} unreferenced file(s) removed", highlight=False)


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    app.add_typer(consents_app, name="consents")
    app.command("maintenance")(maintenance)
    app.command("serve")(cli_errors(serve))
    app.add_typer(partners_app, name="partners")
    app.add_typer(db_app, name="db")
    app.add_typer(operators_app, name="operators")
    app.add_typer(auditors_app, name="auditors")
    keys_app.command("issue")(cli_errors(keys_issue))
    keys_app.command("revoke")(cli_errors(keys_revoke))
    keys_app.command("list")(cli_errors(keys_list))
