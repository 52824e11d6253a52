"""Concurrent requests on SQLite and PostgreSQL: one Idempotency-Key creates one job, and a quota
is never overspent however many requests race for it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from store_world import make_world

from candor import services
from candor.errors import QuotaExceeded
from candor.store.database import session_scope
from candor.store.models import Generation, QuotaUsage

THREADS = 6


def race(fn, n: int = THREADS) -> list:  # type: ignore[no-untyped-def]
    """Run ``fn(i)`` on n threads released at the same moment; returns results or exceptions."""
    barrier = threading.Barrier(n)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_same_idempotency_key_races_to_one_generation(factory, log, policy, world) -> None:  # type: ignore[no-untyped-def]
    request = world.request(idempotency_key="race-1")

    def create(_i: int) -> tuple[str, bool]:
        with session_scope(factory) as session:
            outcome = services.create_generation(
                session=session, log=log, partner=world.partner, request=request, policy=policy
            )
            return outcome.generation.id, outcome.replayed

    results = race(create)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert len({gid for gid, _ in results}) == 1
    assert sum(not replayed for _, replayed in results) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Generation)) == 1
        assert session.scalar(select(QuotaUsage.seconds)) == pytest.approx(world.audio.duration_s)


def test_quota_is_never_overspent(factory, log, files, policy, portrait_png, speech_wav) -> None:  # type: ignore[no-untyped-def]
    probe = make_world(factory, log, files, portrait_png, speech_wav, name="Probe")
    w = make_world(
        factory, log, files, portrait_png, speech_wav, name="Two Clips", quota_s=2.5 * probe.audio.duration_s
    )

    def create(i: int) -> str:
        with session_scope(factory) as session:
            return services.create_generation(
                session=session, log=log, partner=w.partner, request=w.request(seed=i), policy=policy
            ).generation.id

    results = race(create)
    made = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(made) == 2 and len(refused) == THREADS - 2, results
    with factory() as session:
        used = session.scalar(select(QuotaUsage.seconds).where(QuotaUsage.partner_id == w.partner.id))
        assert used == pytest.approx(2 * w.audio.duration_s)
