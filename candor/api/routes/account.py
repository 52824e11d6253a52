"""The calling partner's own account: its usage and quota, and its webhook signing secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from candor.api.deps import Caller, CurrentPartner, SessionDep, StateDep, require_caller
from candor.api.openapi import problem_responses
from candor.api.schemas.account import QuotaPublic, UsagePublic, WebhookSecretPublic, WebhookSecretRotate
from candor.errors import Forbidden
from candor.services.usage import partner_usage
from candor.services.webhooks import rotate_webhook_secret

router = APIRouter(tags=["account"])
# Either tenant scope reads its own usage (only partners hold them).
UsageReader = Annotated[Caller, Depends(require_caller("generate", "detect"))]


@router.get(
    "/usage",
    response_model=UsagePublic,
    summary="Your quota this month, your generations by status and your detections",
    responses=problem_responses(401, 403, 429),
)
def get_usage(session: SessionDep, state: StateDep, caller: UsageReader) -> UsagePublic:
    if caller.partner is None:  # ROLE_SCOPES gives generate/detect to partners only; hold that here too
        raise Forbidden(f"API key {caller.key_prefix} ({caller.role}) has no usage of its own")
    usage = partner_usage(session=session, partner=caller.partner, policy=state.policy)
    return UsagePublic(
        partner_id=usage.partner_id,
        quota=QuotaPublic(
            month=usage.month,
            period_start=usage.period_start,
            limit_s=usage.quota_limit_s,
            used_s=usage.quota_used_s,
            remaining_s=usage.quota_remaining_s,
        ),
        generations_by_status=usage.generations_by_status,
        generations_this_month=usage.generations_this_month,
        detections_this_month=usage.detections_this_month,
        detections_total=usage.detections_total,
    )


@router.post(
    "/webhook-secret/rotate",
    response_model=WebhookSecretPublic,
    summary="Rotate your webhook signing secret (returned once; the old one co-signs for an overlap)",
    responses=problem_responses(401, 403, 422, 429),
)
def rotate_secret(
    session: SessionDep,
    state: StateDep,
    partner: CurrentPartner,
    body: Annotated[WebhookSecretRotate | None, Body()] = None,
) -> WebhookSecretPublic:
    rotated = rotate_webhook_secret(
        session=session,
        log=state.ledger,
        partner=partner,
        overlap_hours=(body or WebhookSecretRotate()).overlap_hours,
    )
    return WebhookSecretPublic(
        secret=rotated.secret, rotated_at=rotated.rotated_at, previous_valid_until=rotated.previous_valid_until
    )
