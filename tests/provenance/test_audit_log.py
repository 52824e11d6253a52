"""Offline audit of a generation-log export: every kind of tampering is caught and the first
altered entry is named."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, update

from candor.errors import InvalidInput, InvalidProof
from candor.provenance.audit import (
    export_log,
    verify_entry_inclusion,
    verify_log_export,
    verify_log_growth,
    write_export,
)
from candor.provenance.checkpoint import CheckpointSigner, TreeHead, parse_checkpoint
from candor.provenance.ledger import LogEvent, canonical_json
from candor.provenance.merkle import MemoryTree
from candor.services.generation_log import GenerationLog
from candor.store.database import make_engine, make_session_factory
from candor.store.migrations import upgrade_database
from candor.store.models import LogEntryRow


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    upgrade_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def log(engine, key) -> GenerationLog:
    log = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key))
    for i in range(20):
        log.append(
            "generation.completed" if i % 2 else "generation.requested",
            actor=f"partner:{i % 3}",
            subject=f"gen-{i // 2}",
            details={"seconds": 4.0, "i": i},
        )
    return log


def _export(log: GenerationLog, missing_rows: int = 0) -> list[bytes]:
    buf = io.BytesIO()
    assert export_log(log, buf) == log.tree_size() - missing_rows
    return buf.getvalue().split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def _entry_line(lines: list[bytes], index: int) -> int:
    """Position in ``lines`` of entry ``index`` (header, checkpoints and entries interleave)."""
    for pos, raw in enumerate(lines):
        obj = json.loads(raw)
        if obj.get("index") == index and "format" not in obj:
            return pos
    raise AssertionError(index)


def _rewrite(raw: bytes, **changes) -> bytes:
    return canonical_json({**json.loads(raw), **changes})


def test_export_layout_and_a_clean_verify(log, key):
    lines = _export(log)
    header = json.loads(lines[0])
    assert header["format"] == "candor-generation-log/1" and header["tree_size"] == 20
    # 20 entries, each followed by the checkpoint signed when it was appended.
    kinds = ["checkpoint" if b'"checkpoint"' in raw[:15] else "entry" for raw in lines[1:]]
    assert kinds.count("entry") == 20 and kinds.count("checkpoint") == 20
    assert kinds[:4] == ["entry", "checkpoint", "entry", "checkpoint"]
    report = verify_log_export(_join(lines), [key.public_key()])
    assert report.ok, report.findings
    assert (report.entries, report.checkpoints, report.key_source) == (20, 20, "given")
    assert report.root == log.tree_head().root
    assert report.first_bad_index is None
    header_key = verify_log_export(_join(lines))
    assert header_key.ok and header_key.key_source == "export"


@pytest.mark.parametrize("target", [0, 7, 19])
def test_modified_entry_is_named(log, key, target):
    lines = _export(log)
    pos = _entry_line(lines, target)
    lines[pos] = _rewrite(lines[pos], actor="partner:someone-else")  # still canonical JSON
    report = verify_log_export(_join(lines), [key.public_key()])
    assert not report.ok
    assert report.first_bad_index == target
    assert report.findings[0].kind == "modified"
    assert f"entry {target} differs" in report.findings[0].detail


def test_non_canonical_edit_is_named(log, key):
    lines = _export(log)
    pos = _entry_line(lines, 4)
    lines[pos] = lines[pos].replace(b'"i":4', b'"i": 4')  # same JSON value, different bytes
    report = verify_log_export(_join(lines), [key.public_key()])
    assert report.first_bad_index == 4
    assert any("canonical" in f.detail for f in report.findings)


def test_removed_entry_is_named(log, key):
    lines = _export(log)
    del lines[_entry_line(lines, 11)]
    report = verify_log_export(_join(lines), [key.public_key()])
    assert report.first_bad_index == 11
    assert "removed" in {f.kind for f in report.findings}


def test_removed_entry_with_renumbered_successors_is_named(log, key):
    lines = _export(log)
    del lines[_entry_line(lines, 11)]
    for i in range(12, 20):
        pos = _entry_line(lines, i)
        lines[pos] = _rewrite(lines[pos], index=i - 1)  # hide the gap
    report = verify_log_export(_join(lines), [key.public_key()])
    assert report.first_bad_index == 11
    assert report.findings[0].kind == "modified"


def test_reordered_entries_are_named(log, key):
    lines = _export(log)
    a, b = _entry_line(lines, 5), _entry_line(lines, 6)
    lines[a], lines[b] = lines[b], lines[a]
    report = verify_log_export(_join(lines), [key.public_key()])
    assert report.first_bad_index == 5
    assert report.findings[0].kind == "reordered"


def test_truncated_tail_is_caught_by_the_header_or_a_saved_checkpoint(log, key):
    saved = log.latest_checkpoint().note  # what an auditor kept from GET /v1/audit/checkpoint
    lines = _export(log)
    cut = _join(lines[: _entry_line(lines, 17)])  # entries 17..19 and their checkpoints removed
    report = verify_log_export(cut, [key.public_key()])
    assert report.first_bad_index == 17 and report.findings[0].kind == "truncated"
    # A careful forger also fixes the unsigned header; only a checkpoint saved earlier reveals it.
    forged_header = _rewrite(lines[0], tree_size=17)
    cut = _join([forged_header, *lines[1 : _entry_line(lines, 17)]])
    assert verify_log_export(cut, [key.public_key()]).ok
    report = verify_log_export(cut, [key.public_key()], trusted_checkpoints=[saved])
    assert report.first_bad_index == 17 and report.findings[0].kind == "truncated"


def test_saved_checkpoints_must_be_prefixes_of_the_export(tmp_path, log, key):
    early = log.latest_checkpoint().note
    log.append("key.revoked", actor="admin", subject="key-1")
    report = verify_log_export(_join(_export(log)), [key.public_key()], trusted_checkpoints=[early])
    assert report.ok, report.findings
    # Someone holding the key rewrites history and re-signs everything: consistency with the
    # auditor's earlier checkpoint fails.
    other_db = make_engine(f"sqlite:///{tmp_path / 'rewritten.db'}")
    upgrade_database(other_db)
    rewritten = GenerationLog(other_db, signer=CheckpointSigner.from_private_key(key))
    for i in range(25):
        rewritten.append("generation.requested", actor="partner:0", details={"i": i})
    report = verify_log_export(_join(_export(rewritten)), [key.public_key()], trusted_checkpoints=[early])
    assert not report.ok
    assert [f.kind for f in report.findings] == ["inconsistent"]


def test_checkpoint_tampering_and_foreign_keys(log, key):
    lines = _export(log)
    pos = _entry_line(lines, 9) + 1  # the checkpoint for size 10
    note = json.loads(lines[pos])["checkpoint"]
    body, sig = note.rsplit(" ", 1)
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    lines[pos] = canonical_json({"checkpoint": f"{body} {flipped}"})
    report = verify_log_export(_join(lines), [key.public_key()])
    assert [f.kind for f in report.findings] == ["bad-checkpoint"]
    # Entries edited and every checkpoint re-signed with another key: nothing verifies.
    other = CheckpointSigner.from_private_key(ec.generate_private_key(ec.SECP256R1()))
    forged = []
    for raw in _export(log):
        obj = json.loads(raw)
        if "checkpoint" in obj:
            cp = parse_checkpoint(obj["checkpoint"])
            raw = canonical_json({"checkpoint": other.sign_head(cp.head).note})
        forged.append(raw)
    report = verify_log_export(_join(forged), [key.public_key()])
    assert not report.ok and report.checkpoints == 0
    assert {f.kind for f in report.findings} == {"bad-checkpoint", "unsigned"}
    assert report.first_bad_index == 0


def test_two_signed_roots_for_one_size_is_a_fork(log, key):
    lines = _export(log)
    signer = CheckpointSigner.from_private_key(key)
    fake = signer.sign_head(TreeHead(log.origin, 5, MemoryTree.from_entries([b"x"] * 5).root(), datetime.now(UTC)))
    lines.append(canonical_json({"checkpoint": fake.note}))
    report = verify_log_export(_join(lines), [key.public_key()])
    assert [f.kind for f in report.findings] == ["fork"]  # the entries agree with the genuine one
    assert not report.ok and report.first_bad_index is None


def test_tampering_in_the_database_is_named(engine, log, key):
    with make_session_factory(engine).begin() as session:
        original = session.get(LogEntryRow, 13).body
        session.execute(
            update(LogEntryRow).where(LogEntryRow.log_index == 13).values(body=original.replace("gen-6", "gen-99"))
        )
        session.execute(delete(LogEntryRow).where(LogEntryRow.log_index == 16))
    report = verify_log_export(_join(_export(log, missing_rows=1)), [key.public_key()])
    assert report.first_bad_index == 13
    # Putting row 13 back leaves the deleted row 16 as the first problem.
    with make_session_factory(engine).begin() as session:
        session.execute(update(LogEntryRow).where(LogEntryRow.log_index == 13).values(body=original))
    report = verify_log_export(_join(_export(log, missing_rows=1)), [key.public_key()])
    assert report.first_bad_index == 16
    assert "removed" in {f.kind for f in report.findings}


def test_sparse_checkpoints_bound_the_change_to_a_range(engine, key):
    log = GenerationLog(engine, signer=CheckpointSigner.from_private_key(key))
    log.append_many([LogEvent("detection.performed", "partner:1", None, {"i": i}) for i in range(30)], batch_size=10)
    lines = _export(log)
    pos = _entry_line(lines, 14)
    lines[pos] = _rewrite(lines[pos], details={"i": 1400})
    finding = verify_log_export(_join(lines), [key.public_key()]).findings[0]
    assert (finding.kind, finding.index, finding.last_index) == ("modified", 10, 19)


def test_unsigned_log_does_not_pass(engine):
    log = GenerationLog(engine)
    log.append("partner.created", actor="admin")
    report = verify_log_export(_join(_export(log)))
    assert not report.ok and report.key_source == "none"


def test_malformed_exports_are_input_errors(tmp_path, log):
    with pytest.raises(InvalidInput):
        verify_log_export(b"")
    with pytest.raises(InvalidInput):
        verify_log_export(b'{"format":"something-else"}\n')
    with pytest.raises(InvalidInput):
        verify_log_export(tmp_path / "missing.jsonl")
    path = tmp_path / "out" / "log.jsonl"
    assert write_export(log, path) == 20
    assert verify_log_export(path).ok
    assert [p.name for p in path.parent.iterdir()] == ["log.jsonl"]  # no temp file left behind
    assert path.stat().st_mode & 0o777 == 0o600  # the log names consents: its owner's only


def test_cli_export_verify_proof_checkpoint(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from candor.cli import app
    from candor.config import get_settings
    from candor.services.container import checkpoint_signer

    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_ENVIRONMENT", "development")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        engine = make_engine(settings.resolved_database_url)
        upgrade_database(engine)
        log = GenerationLog(engine, signer=checkpoint_signer(settings))
        for i in range(9):
            log.append("consent.created", actor="partner:7", subject=f"consent-{i}")
        runner = CliRunner()
        out = tmp_path / "export.jsonl"
        assert runner.invoke(app, ["audit", "export", "-o", str(out)]).exit_code == 0
        result = runner.invoke(app, ["audit", "verify", str(out)])
        assert result.exit_code == 0, result.output
        assert "OK" in result.output

        proof = runner.invoke(app, ["audit", "proof", "3"])
        assert proof.exit_code == 0, proof.output
        shown = json.loads(proof.stdout)
        assert shown["checkpoint_signature"] == "valid" and shown["proof"]["tree_size"] == 9

        saved = tmp_path / "checkpoint.txt"
        saved.write_text(runner.invoke(app, ["audit", "checkpoint"]).stdout)
        out.write_bytes(out.read_bytes().replace(b'"consent-4"', b'"consent-5"'))
        result = runner.invoke(app, ["audit", "verify", str(out), "--checkpoint", str(saved), "--json"])
        assert result.exit_code == 1
        report = json.loads(result.stdout)
        assert report["first_bad_index"] == 4
        assert {f["kind"] for f in report["findings"]} == {"modified", "inconsistent"}

        out.write_text("not an export\n")
        assert runner.invoke(app, ["audit", "verify", str(out)]).exit_code == 2
        assert runner.invoke(app, ["audit", "proof", "99"]).exit_code == 2
    finally:
        get_settings.cache_clear()


def test_online_checks_with_api_shaped_material(log, key):
    """What a partner's monitor does with /v1/audit responses: entry bytes + audit path against a
    signed checkpoint, and consistency between checkpoints it saw at different times."""
    keys = [key.public_key()]
    old = log.latest_checkpoint().note
    entry = log.entry(6)
    proof = log.inclusion_proof(6)
    assert verify_entry_inclusion(entry.body, 6, proof.hashes, old, keys).size == 20
    with pytest.raises(InvalidProof):
        verify_entry_inclusion(entry.body.replace(b"partner:0", b"partner:9"), 6, proof.hashes, old, keys)
    with pytest.raises(InvalidProof):
        verify_entry_inclusion(entry.body, 7, proof.hashes, old, keys)
    with pytest.raises(InvalidProof):
        verify_entry_inclusion(entry.body, 6, proof.hashes, old, [ec.generate_private_key(ec.SECP256R1()).public_key()])

    for i in range(5):
        log.append("generation.downloaded", actor="partner:2", subject=f"gen-{i}")
    new = log.latest_checkpoint().note
    consistency = log.consistency_proof(20, 25).hashes
    assert verify_log_growth(old, new, consistency, keys).size == 25
    with pytest.raises(InvalidProof):
        verify_log_growth(old, new, consistency[:-1], keys)
    with pytest.raises(InvalidProof):
        verify_log_growth(new, old, consistency, keys)  # a log never shrinks
