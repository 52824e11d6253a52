"""The operator's page (scope ``admin``: operator principals only): partners with their vetting
state and quota use, register, approve or suspend a partner, issue a partner key with scopes;
auditors and operators (add one with a first key, issue another key), and revoking any listed key.

Each decision is logged with the signed-in operator as its actor; a new key's token is shown once
in the response to the form and never again (only its hash is stored).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from candor import services
from candor.api.console.web import PREFIX, PageError, PostingViewer, Viewer, ViewerDep, page_error, redirect, render
from candor.api.deps import SessionDep, StateDep
from candor.errors import CandorError
from candor.services import principals
from candor.store.models import PARTNER_STATES, ROLE_SCOPES

router = APIRouter(prefix="/operator")
PARTNER_SCOPES = ROLE_SCOPES["partner"]


def _operator(viewer: Viewer) -> str:
    viewer.require("admin")
    if viewer.key.principal_id is None:
        raise PageError(403, "only operators hold the 'admin' scope")
    return viewer.key.principal_id


@router.get("")
def operator_page(request: Request, session: SessionDep, state: StateDep, viewer: ViewerDep) -> Response:
    _operator(viewer)
    month = services.month_of(datetime.now(UTC))
    partners = [
        {
            "p": p,
            "used_s": services.quota_used(session=session, partner_id=p.id, month=month),
            "limit_s": services.quota_limit(p, state.policy),
            "keys": [k for k in services.list_api_keys(session=session, partner_id=p.id) if k.revoked_at is None],
        }
        for p in services.list_partners(session=session)
    ]
    keys = services.list_api_keys(session=session)
    people = [
        {"p": p, "keys": [k for k in keys if k.principal_id == p.id and k.revoked_at is None]}
        for p in principals.list_principals(session=session)
    ]
    return render(
        request, "operator.html", viewer, partners=partners, scopes=PARTNER_SCOPES, month=month, people=people,
        roles=principals.PRINCIPAL_ROLES,
    )  # fmt: skip


@router.post("/partners")
def add_partner(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    name: Annotated[str, Form(max_length=200)],
    use_case: Annotated[str, Form(max_length=64)],
) -> Response:
    actor = _operator(viewer)
    try:
        partner = services.create_partner(session=session, log=state.ledger, name=name, use_case=use_case, actor=actor)
    except CandorError as exc:
        raise page_error(exc) from None
    return redirect(f"{PREFIX}/operator", f"{partner.name} registered: pending vetting")


@router.post("/partners/{partner_id}/state")
def set_state(
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    partner_id: str,
    new_state: Annotated[str, Form(alias="state", max_length=16)],
) -> Response:
    actor = _operator(viewer)
    if new_state not in PARTNER_STATES:
        raise PageError(422, f"state must be one of {', '.join(PARTNER_STATES)}")
    try:
        partner = services.set_partner_state(
            session=session, log=state.ledger, partner_id=partner_id, state=new_state, actor=actor
        )
    except CandorError as exc:
        raise page_error(exc) from None
    return redirect(f"{PREFIX}/operator", f"{partner.name} is now {partner.state}")


@router.post("/keys")
async def issue_key(request: Request, session: SessionDep, state: StateDep, viewer: PostingViewer) -> Response:
    actor = _operator(viewer)
    form = await request.form()
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    partner_id = form.get("partner_id")
    days = form.get("expires_in_days") or "90"
    if not isinstance(partner_id, str) or not isinstance(days, str):
        raise PageError(422, "choose a partner")
    try:
        lifetime = float(days)
    except ValueError:
        raise PageError(422, f"the key lifetime must be a number of days, got {days!r}") from None

    def issue() -> Response:
        try:
            issued = services.issue_api_key(
                session=session, log=state.ledger, partner_id=partner_id, scopes=scopes,
                expires_in_days=lifetime, actor=actor,
            )  # fmt: skip
        except CandorError as exc:
            raise page_error(exc) from None
        partner = services.get_partner(session=session, partner_id=partner_id)
        return render(request, "key_issued.html", viewer, status=201, issued=issued, owner=partner.name)

    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(issue)


def _lifetime(days: str) -> float:
    try:
        return float(days or "90")
    except ValueError:
        raise PageError(422, f"the key lifetime must be a number of days, got {days!r}") from None


@router.post("/principals")
def add_principal(
    request: Request,
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)],
    expires_in_days: Annotated[str, Form(max_length=12)] = "90",
) -> Response:
    """A new auditor or operator and its first key (its role's scope), the key shown once."""
    actor = _operator(viewer)
    lifetime = _lifetime(expires_in_days)
    try:
        principal = principals.create_principal(session=session, log=state.ledger, name=name, role=role, actor=actor)
        issued = principals.issue_principal_key(
            session=session, log=state.ledger, principal_id=principal.id, expires_in_days=lifetime, actor=actor
        )
    except CandorError as exc:
        raise page_error(exc) from None
    owner = f"{principal.name} ({principal.role})"
    return render(request, "key_issued.html", viewer, status=201, issued=issued, owner=owner)


@router.post("/principals/{principal_id}/keys")
def issue_principal_key(
    request: Request,
    session: SessionDep,
    state: StateDep,
    viewer: PostingViewer,
    principal_id: str,
    expires_in_days: Annotated[str, Form(max_length=12)] = "90",
) -> Response:
    actor = _operator(viewer)
    lifetime = _lifetime(expires_in_days)
    try:
        issued = principals.issue_principal_key(
            session=session, log=state.ledger, principal_id=principal_id, expires_in_days=lifetime, actor=actor
        )
        principal = principals.get_principal(session=session, principal_id=principal_id)
    except CandorError as exc:
        raise page_error(exc) from None
    owner = f"{principal.name} ({principal.role})"
    return render(request, "key_issued.html", viewer, status=201, issued=issued, owner=owner)


@router.post("/keys/{key_id}/revoke")
def revoke_key(session: SessionDep, state: StateDep, viewer: PostingViewer, key_id: str) -> Response:
    """Revoke a partner's, an auditor's or an operator's key at once (its sessions end with it)."""
    actor = _operator(viewer)
    try:
        key = services.revoke_api_key(session=session, log=state.ledger, key_id=key_id, actor=actor)
    except CandorError as exc:
        raise page_error(exc) from None
    return redirect(f"{PREFIX}/operator", f"key {key.prefix} revoked")
