"""The generation log on a real database: SQLite file and PostgreSQL (own schema per test)."""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import OperationalError

from candor.errors import InvalidInput, InvalidProof, NotFound, ProvenanceError
from candor.provenance import merkle
from candor.provenance.checkpoint import CheckpointSigner, verify_checkpoint
from candor.provenance.ledger import EventType, LogEvent
from candor.services.generation_log import GenerationLog
from candor.store.database import make_engine, make_session_factory
from candor.store.migrations import upgrade_database
from candor.store.models import LogNodeRow

PG_URL = os.environ.get("CANDOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _postgres_url(request: pytest.FixtureRequest) -> str:
    """A suite-wide ``postgres_server`` fixture (which may start a throwaway cluster) when one is
    defined, else the configured server."""
    try:
        return request.getfixturevalue("postgres_server")
    except pytest.FixtureLookupError:
        return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
        upgrade_database(eng)
        yield eng
        eng.dispose()
        return
    base = make_engine(_postgres_url(request), connect_args={"connect_timeout": 3})
    try:
        with base.connect():
            pass
    except OperationalError as exc:
        base.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {base.url} (set CANDOR_TEST_POSTGRES_URL): {exc.orig}")
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"  # parallel test runs never share tables
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # search_path, not schema_translate_map: Alembic's ALTER TABLE statements ignore the latter.
    eng = make_engine(_postgres_url(request), connect_args={"connect_timeout": 3, "options": f"-csearch_path={schema}"})
    try:
        upgrade_database(eng)
        yield eng
    finally:
        eng.dispose()
        with base.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()


def _fill(log: GenerationLog, n: int) -> None:
    for i in range(n):
        log.append(
            EventType.GENERATION_REQUESTED,
            actor=f"partner:{i % 3}",
            subject=f"gen-{i}",
            details={"seconds": i / 4, "note": "café ✓"},
        )


def test_entries_are_canonical_json_with_sequential_indexes(engine: Engine):
    log = GenerationLog(engine)
    entry = log.append("consent.revoked", actor="admin", subject="consent-7", details={"b": 1, "a": [1, 2]})
    assert entry.index == 0
    assert (
        entry.body
        == (
            '{"actor":"admin","details":{"a":[1,2],"b":1},"event_type":"consent.revoked","index":0,'
            f'"subject":"consent-7","timestamp":"{entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"}}'
        ).encode()
    )
    _fill(log, 4)
    got = log.entries(0, 10)
    assert [e.index for e in got] == [0, 1, 2, 3, 4]
    assert got[0] == entry
    assert got[3].details == {"note": "café ✓", "seconds": 0.5}
    assert log.entries(3, 1)[0].subject == "gen-2"
    assert log.entries(5) == []
    assert log.entry(4).event_type == "generation.requested"
    with pytest.raises(NotFound):
        log.entry(5)


def test_head_proofs_and_roots_match_an_independent_tree(engine: Engine):
    log = GenerationLog(engine)
    _fill(log, 37)
    bodies = [e.body for e in log.entries(0, 100)]
    tree = merkle.MemoryTree.from_entries(bodies)
    head = log.tree_head()
    assert (head.size, head.root) == (37, tree.root())
    for size in (1, 2, 5, 16, 17, 32, 37):
        for index in {0, size // 2, size - 1}:
            proof = log.inclusion_proof(index, size)
            assert proof.root == tree.root(size)
            assert proof.hashes == tree.inclusion_proof(index, size)
            assert proof.leaf_hash == merkle.leaf_hash(bodies[index])
            proof.verify()
    for old, new in ((1, 37), (7, 8), (16, 37), (20, 33), (37, 37)):
        proof = log.consistency_proof(old, new)
        assert (proof.old_root, proof.new_root) == (tree.root(old), tree.root(new))
        assert proof.hashes == tree.consistency_proof(old, new)
        proof.verify()
    # Every stored perfect subtree is the hash an independent recompute gives.
    with make_session_factory(engine)() as session:
        rows = session.execute(select(LogNodeRow.level, LogNodeRow.node_index, LogNodeRow.hash)).all()
    assert len(rows) == 37 + 18 + 9 + 4 + 2 + 1
    for level, index, h in rows:
        assert tree.nodes([merkle.Node(level, index)])[merkle.Node(level, index)] == h


def test_proof_requests_outside_the_tree_are_refused(engine: Engine):
    log = GenerationLog(engine)
    with pytest.raises(NotFound):
        log.inclusion_proof(0)
    _fill(log, 5)
    with pytest.raises(NotFound):
        log.inclusion_proof(5)
    with pytest.raises(NotFound):
        log.inclusion_proof(3, 3)
    with pytest.raises(InvalidInput):
        log.inclusion_proof(0, 6)
    with pytest.raises(InvalidInput):
        log.consistency_proof(0, 5)
    with pytest.raises(InvalidInput):
        log.consistency_proof(4, 3)
    with pytest.raises(InvalidInput):
        log.entries(-1, 10)
    assert len(log.entries(0, 10_000)) == 5  # capped page, not an error


def test_bad_events_are_domain_errors_and_leave_the_log_untouched(engine: Engine):
    log = GenerationLog(engine)
    bad = [
        ("Generation Requested", {"actor": "a"}),
        ("generation.requested", {"actor": ""}),
        ("generation.requested", {"actor": "a", "details": {"x": float("nan")}}),
        ("generation.requested", {"actor": "a", "details": {"when": datetime.now(UTC)}}),
        ("generation.requested", {"actor": "a", "details": {1: "x", "a": 2}}),
        ("generation.requested", {"actor": "a", "subject": 5}),
        ("generation.requested", {"actor": "a", "details": [("k", "v")]}),
    ]
    for event_type, kwargs in bad:
        with pytest.raises(InvalidInput):
            log.append(event_type, **kwargs)
    assert log.tree_size() == 0
    assert log.append("detection.performed", actor="partner:x").index == 0


def test_timestamps_never_go_backwards(engine: Engine):
    times = iter([datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)])
    log = GenerationLog(engine, clock=lambda: next(times))
    first = log.append("key.issued", actor="admin")
    second = log.append("key.revoked", actor="admin")  # the wall clock stepped back a day
    assert second.timestamp == first.timestamp == datetime(2026, 1, 2, tzinfo=UTC)


def test_append_in_commits_and_rolls_back_with_the_callers_transaction(engine: Engine):
    log = GenerationLog(engine)
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        log.append_in(session, "consent.created", actor="partner:1", subject="c1")
        raise RuntimeError("the state change failed")
    assert log.tree_size() == 0
    assert log.entries() == []
    with sessions.begin() as session:
        a = log.append_in(session, "consent.created", actor="partner:1", subject="c1")
        b = log.append_in(session, "consent.revoked", actor="partner:1", subject="c1")
    assert (a.index, b.index) == (0, 1)
    assert [e.subject for e in log.entries()] == ["c1", "c1"]
    log.inclusion_proof(1).verify()


def test_every_append_is_checkpointed_and_signed(engine: Engine, key):
    signer = CheckpointSigner.from_private_key(key)
    log = GenerationLog(engine, signer=signer, origin="test.example/log")
    first = log.latest_checkpoint()  # empty log: the head is signed on demand
    assert (first.size, first.root) == (0, merkle.EMPTY_ROOT)
    _fill(log, 6)
    checkpoints = log.checkpoints()
    assert [c.size for c in checkpoints] == [0, 1, 2, 3, 4, 5, 6]
    bodies = [e.body for e in log.entries()]
    tree = merkle.MemoryTree.from_entries(bodies)
    for c in checkpoints:
        verified = verify_checkpoint(c.note, key.public_key(), origin="test.example/log")
        assert verified.root == tree.root(c.size)
    latest = log.latest_checkpoint()
    assert latest.size == 6 and latest.root == log.tree_head().root
    assert latest.head.timestamp == log.entry(5).timestamp
    assert log.sign_checkpoint().note == latest.note  # nothing new to sign
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidProof):
        verify_checkpoint(latest.note, other.public_key())


def test_latest_checkpoint_without_a_signer(engine: Engine, key):
    unsigned = GenerationLog(engine)
    _fill(unsigned, 2)
    with pytest.raises(NotFound):
        unsigned.latest_checkpoint()
    with pytest.raises(InvalidInput):
        unsigned.sign_checkpoint()
    signed = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key))
    assert signed.latest_checkpoint().size == 2
    _fill(unsigned, 1)  # a process without the key appends; readers still see the last signed head
    assert unsigned.latest_checkpoint().size == 2
    assert signed.latest_checkpoint().size == 3


def test_concurrent_appenders_serialize(engine: Engine, key):
    """Eight threads (own connections) append at once: no index is lost or doubled and the tree
    the database holds is the tree of the entries it holds. Odd workers append inside their own
    transactions (append_in), which only the database lock serializes."""
    log = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key))
    log.append("partner.created", actor="admin")  # create the head row before the race
    sessions = make_session_factory(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(w: int) -> None:
        try:
            start.wait()
            for i in range(15):
                if w % 2:
                    with sessions.begin() as session:
                        log.append_in(session, "generation.requested", actor=f"worker:{w}", details={"i": i})
                else:
                    log.append("generation.requested", actor=f"worker:{w}", details={"i": i})
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    entries = log.entries(0, 1000)
    assert [e.index for e in entries] == list(range(121))
    per_worker = sorted(e.details["i"] for e in entries if e.actor == "worker:3")
    assert per_worker == list(range(15))
    tree = merkle.MemoryTree.from_entries(e.body for e in entries)
    assert log.tree_head().root == tree.root()
    assert [c.size for c in log.checkpoints()] == list(range(1, 122))
    log.consistency_proof(1).verify()


def test_concurrent_first_appends_create_one_head(engine: Engine):
    log = GenerationLog(engine)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            log.append("partner.created", actor="admin")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [e.index for e in log.entries()] == [0, 1, 2, 3]


def test_append_many_matches_single_appends(engine: Engine, key):
    fixed = datetime(2026, 3, 1, tzinfo=UTC)
    log = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key), clock=lambda: fixed)
    events = [LogEvent("generation.completed", f"partner:{i}", f"gen-{i}", {"i": i}) for i in range(23)]
    assert log.append_many(events, batch_size=10) == 23
    assert [c.size for c in log.checkpoints()] == [10, 20, 23]  # one signed checkpoint per batch
    entries = log.entries(0, 100)
    assert [json.loads(e.body)["details"]["i"] for e in entries] == list(range(23))
    assert log.tree_head().root == merkle.MemoryTree.from_entries(e.body for e in entries).root()


def test_tampered_node_row_makes_proofs_fail_verification(engine: Engine):
    """A proof is only as good as the stored subtrees: an edited node row yields a proof that no
    longer verifies against the root recorded before the edit."""
    log = GenerationLog(engine)
    _fill(log, 8)
    honest_root = log.tree_head().root
    with make_session_factory(engine).begin() as session:
        session.execute(
            update(LogNodeRow)
            .where(LogNodeRow.level == 2, LogNodeRow.node_index == 1)  # on leaf 0's audit path
            .values(hash=merkle.leaf_hash(b"forged"))
        )
    proof = log.inclusion_proof(0)
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(0, 8, proof.leaf_hash, proof.hashes, honest_root)
    with pytest.raises(InvalidProof):
        proof.verify()  # the root node itself was not touched, so the proof contradicts it
    with make_session_factory(engine).begin() as session:
        session.execute(delete(LogNodeRow).where(LogNodeRow.level == 0, LogNodeRow.node_index == 1))
    with pytest.raises(ProvenanceError):
        log.inclusion_proof(0)  # a missing subtree is damage, not a bad request


def test_the_actor_column_cannot_speak_for_the_hashed_entry(engine: Engine):
    """The row's actor / event type / subject columns (kept for filtering) are outside the Merkle
    leaf: an entry whose columns disagree with its hashed body is refused on read, and a reader
    filtering by actor gets only entries whose hashed body names that actor."""
    from candor.store.models import LogEntryRow

    log = GenerationLog(engine)
    _fill(log, 6)  # actors partner:0, partner:1, partner:2, partner:0, ...
    mine = [e.index for e in log.entries(0, 10, actor="partner:1")]
    assert mine == [1, 4]
    with engine.begin() as conn:  # someone with database access re-attributes entry 2
        conn.execute(update(LogEntryRow).where(LogEntryRow.log_index == 2).values(actor="partner:1"))
    with pytest.raises(ProvenanceError, match="entry 2"):
        log.entries(0, 10, actor="partner:1")
    with pytest.raises(ProvenanceError, match="entry 2"):
        log.entries(0, 10)
