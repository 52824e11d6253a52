"""Operator views (scope ``admin``: operator principals only, never a partner key): read-only.
Vetting decisions stay on the operator CLI (`candor partners approve|suspend`), so no HTTP key
can approve a partner."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from candor import services
from candor.api.deps import Operator, SessionDep
from candor.api.openapi import problem_responses
from candor.api.schemas.partners import PartnerList, PartnerPublic

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get(
    "/partners",
    response_model=PartnerList,
    summary="Every partner with its vetting state and this month's quota use",
    responses=problem_responses(401, 403, 429),
)
def list_partners(session: SessionDep, _operator: Operator) -> PartnerList:
    month = services.month_of(datetime.now(UTC))
    return PartnerList(
        items=[
            PartnerPublic(
                id=p.id,
                name=p.name,
                use_case=p.use_case,
                state=p.state,
                monthly_quota_s=p.monthly_quota_s,
                quota_used_s=services.quota_used(session=session, partner_id=p.id, month=month),
                created_at=p.created_at,
                updated_at=p.updated_at,
            )
            for p in services.list_partners(session=session)
        ]
    )
