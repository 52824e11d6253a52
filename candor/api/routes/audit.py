"""The tamper-evident generation log (scope ``audit:read``).

An auditor reads every entry; a partner reads only its own (its actions, its rows as subject) and
inclusion proofs of those. Checkpoints and consistency proofs are hashes over the whole log and
reveal no entry, so both may read them: a partner needs them to check its own inclusion proofs.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from candor.api.deps import AuditReader, SessionDep, StateDep
from candor.api.openapi import problem_responses
from candor.api.schemas.audit import (
    AuditEntryPage,
    AuditEntryPublic,
    CheckpointPublic,
    ConsistencyProofPublic,
    InclusionProofPublic,
)
from candor.errors import NotFound
from candor.provenance.checkpoint import format_time
from candor.services import principals

router = APIRouter(prefix="/audit", tags=["audit"])
_ERRORS = (401, 403, 429)
MAX_ENTRIES_PAGE = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get(
    "/entries",
    response_model=AuditEntryPage,
    summary="Log entries from `start`, in order",
    responses=problem_responses(*_ERRORS, 422),
)
def list_entries(
    state: StateDep,
    session: SessionDep,
    caller: AuditReader,
    start: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES_PAGE)] = 100,
) -> AuditEntryPage:
    size = state.ledger.tree_size()
    if caller.partner_id is None:  # an auditor: the log as it is
        entries = state.ledger.entries(start, limit) if start < size else []
        end = start + len(entries)
    else:
        # Only the partner's own entries; `end` resumes after the last one shown.
        entries = principals.partner_entries(
            session=session, partner_id=caller.partner_id, start=start, limit=limit, below=size
        )
        session.commit()
        end = entries[-1].index + 1 if entries else size
    return AuditEntryPage(
        entries=[AuditEntryPublic.model_validate(e.to_dict()) for e in entries],
        start=start,
        next_start=end if entries and end < size else None,
        tree_size=size,
    )


@router.get(
    "/checkpoint",
    response_model=CheckpointPublic,
    summary="The latest signed checkpoint (tree size + root hash)",
    responses=problem_responses(*_ERRORS, 404),
)
def latest_checkpoint(state: StateDep, _reader: AuditReader) -> CheckpointPublic:
    checkpoint = state.ledger.latest_checkpoint()
    signer = state.ledger.signer
    return CheckpointPublic(
        origin=checkpoint.head.origin,
        tree_size=checkpoint.size,
        root_hash=_b64(checkpoint.root),
        timestamp=format_time(checkpoint.head.timestamp),
        key_name=checkpoint.key_name,
        key_id=_b64(checkpoint.key_id),
        signature=_b64(checkpoint.signature),
        note=checkpoint.note,
        public_key_pem=signer.public_key_pem() if signer is not None else None,
    )


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProofPublic,
    summary="Merkle audit path of entry `index` in the tree of `tree_size` entries",
    responses=problem_responses(*_ERRORS, 404, 422),
)
def inclusion_proof(
    state: StateDep,
    session: SessionDep,
    caller: AuditReader,
    index: Annotated[int, Query(ge=0, le=2**53)],
    tree_size: Annotated[int | None, Query(ge=1, le=2**53, description="default: the current size")] = None,
) -> InclusionProofPublic:
    if caller.partner_id is not None:
        # Another tenant's entry answers like an absent one: its index says nothing.
        owned = principals.entry_belongs_to(session=session, partner_id=caller.partner_id, index=index)
        session.commit()
        if not owned:
            raise NotFound(f"the generation log has no entry {index} of yours")
    return InclusionProofPublic.model_validate(state.ledger.inclusion_proof(index, tree_size).to_dict())


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProofPublic,
    summary="Proof that the tree of `first` entries is a prefix of the tree of `second`",
    responses=problem_responses(*_ERRORS, 422),
)
def consistency_proof(
    state: StateDep,
    _reader: AuditReader,
    first: Annotated[int, Query(ge=1, le=2**53)],
    second: Annotated[int | None, Query(ge=1, le=2**53, description="default: the current size")] = None,
) -> ConsistencyProofPublic:
    return ConsistencyProofPublic.model_validate(state.ledger.consistency_proof(first, second).to_dict())
