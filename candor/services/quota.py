"""Monthly quotas: seconds of video a partner may reserve per UTC calendar month.

A generation reserves its seconds when it is queued (atomically, so concurrent requests cannot
overrun the limit) and gives them back when it fails, is stopped or is cancelled before release.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from candor.policy import Policy
from candor.store.models import Generation, Partner, QuotaUsage


def month_of(moment: datetime) -> str:
    """The UTC calendar month ("YYYY-MM") quotas are counted in."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def quota_used(*, session: Session, partner_id: str, month: str) -> float:
    """Seconds of video reserved by the partner in ``month`` ("YYYY-MM")."""
    value = session.scalar(
        select(QuotaUsage.seconds).where(QuotaUsage.partner_id == partner_id, QuotaUsage.month == month)
    )
    return float(value or 0.0)


def quota_limit(partner: Partner, policy: Policy) -> float:
    return policy.default_monthly_seconds if partner.monthly_quota_s is None else partner.monthly_quota_s


def reserve_quota(session: Session, partner_id: str, month: str, seconds: float, limit_s: float) -> bool:
    """Atomically add ``seconds`` unless that would pass ``limit_s`` (safe under concurrency)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(QuotaUsage).values(partner_id=partner_id, month=month, seconds=0.0).on_conflict_do_nothing())
    result = session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.partner_id == partner_id,
            QuotaUsage.month == month,
            QuotaUsage.seconds + seconds <= limit_s + 1e-9,
        )
        .values(seconds=QuotaUsage.seconds + seconds)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_quota(*, session: Session, generation: Generation) -> None:
    """Give back a generation's reserved seconds (it failed or was cancelled before release)."""
    session.execute(
        update(QuotaUsage)
        .where(QuotaUsage.partner_id == generation.partner_id, QuotaUsage.month == month_of(generation.created_at))
        .values(seconds=QuotaUsage.seconds - generation.duration_s)
    )
