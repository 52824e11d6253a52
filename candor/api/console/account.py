"""The partner's own account in the studio: erase a data subject (a confirmation page that names
what goes, then the erasure), the partner's API keys (listed; issuing them stays with operators)
and the webhook signing secret (rotated with an overlap, the new secret shown once).

Same services and scopes as ``/v1``: erasure and rotation need ``generate`` (as
``DELETE /v1/consents/{id}`` and ``POST /v1/webhook-secret/rotate``), the key list any tenant scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from candor.api.console.web import PREFIX, PageError, PostingViewer, Viewer, ViewerDep, page_error, redirect, render
from candor.api.deps import SessionDep, StateDep
from candor.errors import CandorError
from candor.services import console as console_services
from candor.services.erasure import erase_consent
from candor.services.webhooks import MAX_OVERLAP_HOURS, SIGNATURE_HEADER, TIMESTAMP_HEADER, rotate_webhook_secret
from candor.store.models import Partner

router = APIRouter(prefix="/studio")


def _partner(viewer: Viewer) -> Partner:
    """The signed-in partner, for pages any tenant scope may read."""
    viewer.require("generate", "detect")
    if viewer.partner is None:
        raise PageError(403, "only partners have an account here")
    return viewer.partner


@router.get("/consents/{consent_id}/erase")
def erase_confirmation(request: Request, session: SessionDep, viewer: ViewerDep, consent_id: str) -> Response:
    partner = viewer.tenant("generate")
    try:
        preview = console_services.erasure_preview(session=session, partner=partner, consent_id=consent_id)
    except CandorError as exc:
        raise page_error(exc) from None
    return render(request, "erase.html", viewer, preview=preview, consent=preview.consent)


@router.post("/consents/{consent_id}/erase")
def erase(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    consent_id: str,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    partner = viewer.tenant("generate")
    if confirm != "yes":
        raise PageError(422, "tick the box that confirms the erasure; nothing was deleted")
    try:
        done = erase_consent(
            session=session, log=state.ledger, files=state.files, consent_id=consent_id, partner=partner,
            actor=partner.id,
        )  # fmt: skip
    except CandorError as exc:
        raise page_error(exc) from None
    note = (
        f"consent {done.consent_id} erased: {len(done.generations)} generation(s), {done.portraits} portrait(s), "
        f"{done.assets} audio clip(s), {done.files_deleted} stored file(s); tombstone at log entry {done.log_index}"
    )
    return redirect(f"{PREFIX}/studio", note)


@router.get("/account")
def account_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    partner = _partner(viewer)
    now = datetime.now(UTC)
    keys = [
        {
            "key": k,
            "state": "revoked" if k.revoked_at else "expired" if k.expires_at and k.expires_at <= now else "active",
            "current": k.id == viewer.key.id,
        }
        for k in console_services.own_keys(session=session, partner=partner)
    ]
    until = partner.webhook_secret_previous_until
    overlap_until = until if partner.webhook_secret_previous and until is not None and until > now else None
    return render(
        request, "account.html", viewer, keys=keys, overlap_until=overlap_until, max_overlap=MAX_OVERLAP_HOURS,
        signature_header=SIGNATURE_HEADER, timestamp_header=TIMESTAMP_HEADER,
    )  # fmt: skip


@router.post("/account/webhook-secret")
async def rotate_secret(
    request: Request,
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    overlap_hours: Annotated[str, Form(max_length=20)] = "24",
) -> Response:
    partner = viewer.tenant("generate")
    try:
        hours = float(overlap_hours)
    except ValueError:
        raise PageError(422, f"the overlap must be a number of hours, got {overlap_hours!r}") from None

    def rotate() -> Response:
        try:
            rotated = rotate_webhook_secret(session=session, log=state.ledger, partner=partner, overlap_hours=hours)
        except CandorError as exc:
            raise page_error(exc) from None
        return render(request, "secret_rotated.html", viewer, status=201, rotated=rotated)

    return await run_in_threadpool(rotate)
