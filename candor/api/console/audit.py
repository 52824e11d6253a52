"""The auditor's pages (scope ``audit:read``): browse and filter the generation log, open an entry,
and verify its inclusion proof in the browser against the signed checkpoint (static/audit.js does
the hashing and the signature check with WebCrypto; the server's word is not taken for it); save a
signed checkpoint and later check in the browser that the log's newer checkpoint extends it (an
RFC 9162 consistency proof, static/checkpoints.js).

An auditor reads every entry; a partner holding ``audit:read`` reads only its own, as in the API.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from candor.api.console.web import PageError, Viewer, ViewerDep, page_error, render
from candor.api.deps import SessionDep, StateDep
from candor.errors import CandorError
from candor.provenance.checkpoint import format_time
from candor.provenance.ledger import LogEntry
from candor.services import principals

router = APIRouter(prefix="/audit")
PAGE = 200  # entries read per page; the filters apply within it
CHECKPOINT_FORMAT = "candor-checkpoint/1"  # the saved-checkpoint JSON the checkpoints page reads back


def _page(session: Any, state: Any, viewer: Viewer, start: int, actor: str | None) -> tuple[list[LogEntry], int]:
    size = state.ledger.tree_size()
    if viewer.partner is None:
        return (state.ledger.entries(start, PAGE, actor=actor) if start < size else []), size
    entries = principals.partner_entries(
        session=session, partner_id=viewer.partner.id, start=start, limit=PAGE, below=size
    )
    session.commit()
    return [e for e in entries if actor is None or e.actor == actor], size


@router.get("")
def log_page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    viewer: ViewerDep,
    start: Annotated[int, Query(ge=0, le=2**53)] = 0,
    event_type: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=200)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    viewer.require("audit:read")
    entries, size = _page(session, state, viewer, start, actor.strip() or None)
    last = entries[-1].index + 1 if entries else size
    shown = [
        e for e in entries
        if (not event_type or e.event_type.startswith(event_type.strip()))
        and (not subject or (e.subject or "") == subject.strip())
    ]  # fmt: skip
    return render(
        request, "audit.html", viewer, entries=shown, tree_size=size, start=start,
        next_start=last if entries and last < size else None,
        filters={"event_type": event_type, "actor": actor, "subject": subject},
    )  # fmt: skip


def _entry(session: Any, state: Any, viewer: Viewer, index: int) -> LogEntry:
    viewer.require("audit:read")
    if viewer.partner is not None:
        owned = principals.entry_belongs_to(session=session, partner_id=viewer.partner.id, index=index)
        session.commit()
        if not owned:
            raise PageError(404, f"the generation log has no entry {index} of yours")
    if index >= state.ledger.tree_size():
        raise PageError(404, f"the generation log has no entry {index}")
    return state.ledger.entry(index)


@router.get("/entries/{index}")
def entry_page(request: Request, session: SessionDep, state: StateDep, viewer: ViewerDep, index: int) -> Response:
    entry = _entry(session, state, viewer, index)
    details = json.dumps(entry.details, indent=2, sort_keys=True)
    return render(request, "entry.html", viewer, entry=entry, details=details, body=entry.body.decode("utf-8"))


@router.get("/entries/{index}/proof")
def entry_proof(session: SessionDep, state: StateDep, viewer: ViewerDep, index: int) -> JSONResponse:
    """What the browser checks: the entry's stored bytes, the latest signed checkpoint (note and
    public key) and the audit path of the entry in the checkpoint's tree."""
    entry = _entry(session, state, viewer, index)
    checkpoint = state.ledger.latest_checkpoint()
    proof = state.ledger.inclusion_proof(index, checkpoint.size)
    signer = state.ledger.signer
    return JSONResponse(
        {
            "entry": entry.body.decode("utf-8"),
            "leaf_index": proof.index,
            "tree_size": proof.tree_size,
            "audit_path": [base64.b64encode(h).decode() for h in proof.hashes],
            "checkpoint": {
                "note": checkpoint.note,
                "timestamp": format_time(checkpoint.head.timestamp),
                "public_key_pem": signer.public_key_pem() if signer is not None else None,
            },
        }
    )


@router.get("/export")
def export(
    session: SessionDep,
    state: StateDep,
    viewer: ViewerDep,
    start: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> Response:
    """One page of the log (the viewer's share of it) as JSON, each entry with its exact bytes."""
    viewer.require("audit:read")
    entries, size = _page(session, state, viewer, start, None)
    body = {"tree_size": size, "start": start, "entries": [e.to_dict() for e in entries]}
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="candor-log-{start}.json"'})


def _signed_checkpoint(state: Any) -> dict[str, Any]:
    """The latest signed checkpoint as the browser keeps it: the exact signed note, the key that
    signed it, and (for reading only; the script takes them from the note) its size and time."""
    checkpoint = state.ledger.latest_checkpoint()
    signer = state.ledger.signer
    return {
        "format": CHECKPOINT_FORMAT,
        "origin": checkpoint.head.origin,
        "tree_size": checkpoint.size,
        "timestamp": format_time(checkpoint.head.timestamp),
        "note": checkpoint.note,
        "public_key_pem": signer.public_key_pem() if signer is not None else None,
    }


@router.get("/checkpoints")
def checkpoints_page(request: Request, state: StateDep, viewer: ViewerDep) -> Response:
    viewer.require("audit:read")
    try:
        current = _signed_checkpoint(state)
    except CandorError as exc:
        raise page_error(exc) from None
    return render(request, "checkpoints.html", viewer, current=current)


@router.get("/checkpoint.json")
def checkpoint_download(state: StateDep, viewer: ViewerDep) -> JSONResponse:
    """The latest signed checkpoint to keep (a download); hand it back to the checkpoints page later."""
    viewer.require("audit:read")
    try:
        current = _signed_checkpoint(state)
    except CandorError as exc:
        raise page_error(exc) from None
    name = f"candor-checkpoint-{current['tree_size']}.json"
    return JSONResponse(current, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/consistency")
def consistency(state: StateDep, viewer: ViewerDep, first: Annotated[int, Query(ge=1, le=2**53)]) -> JSONResponse:
    """What the browser checks a saved checkpoint of ``first`` entries against: the latest signed
    checkpoint and the consistency proof from ``first`` to its size (only hashes: no entry)."""
    viewer.require("audit:read")
    try:
        current = _signed_checkpoint(state)
        if first > current["tree_size"]:
            raise PageError(
                409,
                f"the saved checkpoint has {first} entries, more than the log's latest ({current['tree_size']})",
            )
        proof = state.ledger.consistency_proof(first, current["tree_size"])
    except CandorError as exc:
        raise page_error(exc) from None
    return JSONResponse(
        {
            "checkpoint": current,
            "first": proof.old_size,
            "second": proof.new_size,
            "consistency": [base64.b64encode(h).decode() for h in proof.hashes],
        }
    )
