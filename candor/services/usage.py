"""A partner's own usage: this month's quota (limit, used, remaining), its generations by status
and its detections. Only the partner's rows are counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from candor.policy import Policy
from candor.services.quota import month_of, quota_limit, quota_used
from candor.store.models import JOB_STATES, Detection, Generation, Partner, utcnow


@dataclass(frozen=True)
class Usage:
    """Seconds are seconds of video; "this month" is the UTC calendar month quotas count in."""

    partner_id: str
    month: str  # "YYYY-MM"
    period_start: datetime
    quota_limit_s: float
    quota_used_s: float
    generations_by_status: dict[str, int]  # every state, zero included; all time
    generations_this_month: int
    detections_this_month: int
    detections_total: int

    @property
    def quota_remaining_s(self) -> float:
        return max(0.0, self.quota_limit_s - self.quota_used_s)


def partner_usage(*, session: Session, partner: Partner, policy: Policy, now: datetime | None = None) -> Usage:
    """The partner's usage as of ``now``; reads only rows whose ``partner_id`` is the partner's."""
    now = now or utcnow()
    month = month_of(now)
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    by_status = dict.fromkeys(JOB_STATES, 0)
    rows = session.execute(
        select(Generation.status, func.count()).where(Generation.partner_id == partner.id).group_by(Generation.status)
    )
    for status, count in rows:
        by_status[status] = int(count)
    generations_month = session.scalar(
        select(func.count()).where(Generation.partner_id == partner.id, Generation.created_at >= start)
    )
    detections_month = session.scalar(
        select(func.count()).where(Detection.partner_id == partner.id, Detection.created_at >= start)
    )
    detections_total = session.scalar(select(func.count()).where(Detection.partner_id == partner.id))
    return Usage(
        partner_id=partner.id,
        month=month,
        period_start=start,
        quota_limit_s=float(quota_limit(partner, policy)),
        quota_used_s=max(0.0, quota_used(session=session, partner_id=partner.id, month=month)),
        generations_by_status=by_status,
        generations_this_month=int(generations_month or 0),
        detections_this_month=int(detections_month or 0),
        detections_total=int(detections_total or 0),
    )
