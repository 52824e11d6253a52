"""Export the generation log, and audit an export offline.

An export is JSON Lines:

1. a header ``{"format": "candor-generation-log/1", "origin": ..., "tree_size": N, "public_key": PEM}``;
2. every entry as its exact canonical JSON bytes (the Merkle leaf data), in index order;
3. each signed checkpoint as ``{"checkpoint": NOTE}``, right after the entry that completes its size.

:func:`verify_log_export` trusts nothing in the file but the signatures: it re-derives every leaf
hash and every prefix root, checks each checkpoint's ES256 signature and that its root is the
recomputed root of that prefix (which makes all checkpoints consistent with each other), checks
checkpoints the auditor saved earlier with RFC 9162 consistency proofs, and names the FIRST entry
that was modified, removed or reordered. The service signs a checkpoint per append, so a changed
entry is pinned to its exact index; with sparser checkpoints the report gives the range.

Online, with what the ``/v1/audit`` routes return: :func:`verify_entry_inclusion` (an entry and
its audit path against a signed checkpoint) and :func:`verify_log_growth` (a saved checkpoint, a
newer one and the consistency proof between them).

(Over 400 lines on purpose: the export format and the offline auditor that re-derives it must change
together, in one reviewable place.)
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from candor.errors import CandorError, InvalidInput, InvalidProof
from candor.files import atomic_output
from candor.provenance import merkle
from candor.provenance.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    TreeHead,
    format_time,
    key_id,
    load_public_key,
    parse_checkpoint,
    verify_checkpoint,
)
from candor.provenance.ledger import MAX_PAGE, canonical_json


class LogSource(Protocol):
    """What an export reads from a generation log (the service's GenerationLog is one)."""

    origin: str
    signer: CheckpointSigner | None

    def tree_head(self) -> TreeHead: ...

    def raw_entries(self, start: int = 0, limit: int = MAX_PAGE) -> list[tuple[int, bytes]]: ...

    def checkpoints(self, start_size: int = 0, limit: int = MAX_PAGE) -> list[Checkpoint]: ...


EXPORT_FORMAT = "candor-generation-log/1"
_ENTRY_KEYS = {"index", "timestamp", "event_type", "actor", "subject", "details"}
MAX_FINDINGS = 50  # one tampering shifts everything after it; the first findings are the useful ones

FindingKind = Literal[
    "modified", "removed", "reordered", "truncated", "extra", "unsigned", "bad-checkpoint", "fork", "inconsistent"
]


def export_log(log: LogSource, out: BinaryIO) -> int:
    """Write the log (as of now) to ``out`` in the export format; returns the number of entries."""
    head = log.tree_head()
    public_key = log.signer.public_key_pem() if log.signer is not None else None
    header = {"format": EXPORT_FORMAT, "origin": log.origin, "tree_size": head.size, "public_key": public_key}
    out.write(canonical_json({**header, "root_hash": _b64(head.root)}) + b"\n")
    checkpoints = _iter_checkpoints(log, head.size)
    upcoming = next(checkpoints, None)

    def write_checkpoints(upto: int) -> None:
        nonlocal upcoming
        while upcoming is not None and upcoming.size <= upto:
            out.write(canonical_json({"checkpoint": upcoming.note}) + b"\n")
            upcoming = next(checkpoints, None)

    write_checkpoints(0)
    start = written = 0  # keyset paging: a row missing from the database must not repeat a neighbour
    while page := [(i, body) for i, body in log.raw_entries(start, MAX_PAGE) if i < head.size]:
        for index, body in page:
            out.write(body + b"\n")
            written += 1
            write_checkpoints(index + 1)
        start = page[-1][0] + 1
    write_checkpoints(head.size)
    return written


def write_export(log: LogSource, path: Path) -> int:
    """:func:`export_log` to ``path`` atomically (see ``candor.files``), readable by its owner only
    (mode 0600, as before: the log names generations, consents and partner pseudonyms)."""
    # The temp file is created 0600 too, so the log is never readable by others while it is written.
    with (
        atomic_output(path, mode=0o600) as tmp,
        os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle,
    ):
        count = export_log(log, handle)
    return count


def _iter_checkpoints(log: LogSource, upto: int) -> Iterator[Checkpoint]:
    """The log's checkpoints of size <= ``upto``, ascending, a page at a time."""
    start = 0
    while True:
        page = log.checkpoints(start, MAX_PAGE)
        for checkpoint in page:
            if checkpoint.size > upto:
                return
            yield checkpoint
        if len(page) < MAX_PAGE:
            return
        start = page[-1].size + 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Finding:
    """One problem. ``index`` is the first entry concerned (None for a checkpoint-only problem);
    ``line`` the 1-based line of the export; ``last_index`` closes a range when the checkpoints
    only bound where the change is."""

    kind: FindingKind
    detail: str
    index: int | None = None
    line: int | None = None
    last_index: int | None = None


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0  # checkpoint lines whose signature verified
    tree_size: int = 0
    root: bytes = merkle.EMPTY_ROOT  # recomputed from the exported entries
    key_source: Literal["given", "export", "none"] = "none"
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and self.key_source != "none"

    @property
    def first_bad_index(self) -> int | None:
        """The first entry that was modified, removed or reordered (or is not signed at all)."""
        indexes = [f.index for f in self.findings if f.index is not None]
        return min(indexes) if indexes else None

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)


@dataclass
class _Line:
    number: int
    raw: bytes


def _read_lines(source: Path | bytes | BinaryIO) -> list[_Line]:
    if isinstance(source, Path | str):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read the log export {source}: {exc.strerror}") from None
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.read()
    if not data.endswith(b"\n"):
        data += b"\n"  # a missing final newline is not tampering with any entry
    return [_Line(i + 1, raw) for i, raw in enumerate(data.split(b"\n")[:-1])]


def _parse_header(line: _Line) -> dict:
    try:
        header = json.loads(line.raw)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise InvalidInput(f"not a Candor generation log export (line 1 must be a {EXPORT_FORMAT} header)")
    return header


def _parse_line(raw: bytes) -> object:
    """The JSON value of a line, or None when it is not UTF-8 JSON (parsed once per line)."""
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        return None


def _entry_problem(raw: bytes, obj: object) -> tuple[int | None, str | None]:
    """(claimed index, problem) of one entry line; a problem means the bytes cannot be genuine."""
    if obj is None:
        return None, "is not JSON"
    if not isinstance(obj, dict) or set(obj) != _ENTRY_KEYS:
        return None, "does not have exactly the entry fields"
    index = obj["index"] if isinstance(obj["index"], int) and not isinstance(obj["index"], bool) else None
    try:
        canonical = canonical_json(obj)
    except CandorError:
        canonical = b""
    if canonical != raw:
        return index, "is not in canonical JSON form"
    return index, None


def _check_structure(entries: list[_Line], claimed: list[int | None], report: AuditReport) -> None:
    """Name the first entry whose position, index field or form betrays removal or reordering."""
    first_seen: dict[int, int] = {}
    for position, index in enumerate(claimed):
        if index is not None:
            first_seen.setdefault(index, position)
    for position, line in enumerate(entries):
        index = claimed[position]
        if index is None or index == position:
            continue
        if index > position and first_seen.get(position, -1) > position:
            report.add(
                Finding(
                    "reordered", f"entry {position} appears later; index {index} is in its place", position, line.number
                )
            )
        elif index > position:
            report.add(
                Finding(
                    "removed",
                    f"entries {position}..{index - 1} are missing before index {index}",
                    position,
                    line.number,
                    index - 1,
                )
            )
        else:
            report.add(
                Finding("reordered", f"index {index} appears again at position {position}", position, line.number)
            )
        return  # every later position is shifted by the same change


def verify_log_export(
    source: Path | bytes | BinaryIO,
    public_keys: Sequence[ec.EllipticCurvePublicKey] = (),
    *,
    trusted_checkpoints: Sequence[str] = (),
    origin: str | None = None,
) -> AuditReport:
    """Audit an export offline; see the module docstring. ``public_keys`` are the trusted ES256
    checkpoint keys (all generations, after key rotation); without them the key in the export's
    header is used and ``key_source`` says so. ``trusted_checkpoints`` are checkpoint notes the
    auditor saved earlier. Malformed files raise InvalidInput; tampering is reported, not raised."""
    lines = _read_lines(source)
    if not lines:
        raise InvalidInput("the log export is empty")
    header = _parse_header(lines[0])
    origin = origin or header.get("origin")
    report = AuditReport()
    keys = list(public_keys)
    if keys:
        report.key_source = "given"
    elif header.get("public_key"):
        keys, report.key_source = [load_public_key(str(header["public_key"]).encode())], "export"

    entries: list[_Line] = []
    claimed: list[int | None] = []
    signed: list[tuple[_Line, Checkpoint]] = []
    for line in lines[1:]:
        parsed = _parse_line(line.raw)
        note = _checkpoint_text(parsed)
        if note is None:
            index, problem = _entry_problem(line.raw, parsed)
            if problem is not None:
                report.add(
                    Finding("modified", f"entry at position {len(entries)} {problem}", len(entries), line.number)
                )
            entries.append(line)
            claimed.append(index)
            continue
        checkpoint = _verify_note(note, keys, origin, line, report)
        if checkpoint is not None:
            signed.append((line, checkpoint))
    report.entries = report.tree_size = len(entries)
    report.checkpoints = len(signed)
    _check_structure(entries, claimed, report)

    # Recompute every needed prefix root in one pass over the leaves.
    tree = merkle.MemoryTree(merkle.leaf_hash(line.raw) for line in entries)
    report.root = tree.root()
    _check_checkpoints(signed, tree, [line.number for line in entries], report)
    _check_trusted(trusted_checkpoints, keys, origin, tree, report)
    declared = header.get("tree_size")
    if isinstance(declared, int) and declared != len(entries):
        kind: FindingKind = "truncated" if declared > len(entries) else "extra"
        report.add(
            Finding(
                kind,
                f"the header declares {declared} entries, the export holds {len(entries)}",
                min(declared, len(entries)),
            )
        )
    return report


def _checkpoint_text(obj: object) -> str | None:
    if isinstance(obj, dict) and set(obj) == {"checkpoint"} and isinstance(obj["checkpoint"], str):
        return obj["checkpoint"]
    return None


def _verify_note(
    note: str, keys: Sequence[ec.EllipticCurvePublicKey], origin: str | None, line: _Line, report: AuditReport
) -> Checkpoint | None:
    try:
        parsed = parse_checkpoint(note)
        key = next((k for k in keys if key_id(parsed.key_name, k) == parsed.key_id), None)
        if key is None:
            raise InvalidInput(f"signed by key {parsed.key_name!r} that is not among the trusted keys")
        return verify_checkpoint(note, key, origin=origin)
    except CandorError as exc:
        report.add(Finding("bad-checkpoint", f"checkpoint on line {line.number}: {exc.detail}", None, line.number))
        return None


def _check_checkpoints(
    signed: list[tuple[_Line, Checkpoint]], tree: merkle.MemoryTree, entry_lines: list[int], report: AuditReport
) -> None:
    by_size: dict[int, list[tuple[_Line, Checkpoint]]] = {}
    for line, checkpoint in signed:
        by_size.setdefault(checkpoint.size, []).append((line, checkpoint))
    for size, group in by_size.items():
        if len({checkpoint.root for _, checkpoint in group}) > 1:
            numbers = ", ".join(str(line.number) for line, _ in group)
            report.add(Finding("fork", f"signed checkpoints for size {size} disagree (lines {numbers})"))
    anchored = 0  # the largest size whose signed root matches the recomputed prefix root
    for size in sorted(by_size):
        line, checkpoint = by_size[size][0]
        if size > tree.size:
            report.add(
                Finding(
                    "truncated",
                    f"a checkpoint signed {format_time(checkpoint.head.timestamp)} covers {size} entries "
                    f"but the export holds {tree.size}: entries {tree.size}.. removed",
                    tree.size,
                    line.number,
                    size - 1,
                )
            )
            return
        if all(tree.root(size) != c.root for _, c in by_size[size]):
            where = f"entry {anchored}" if size == anchored + 1 else f"one of entries {anchored}..{size - 1}"
            report.add(
                Finding(
                    "modified",
                    f"{where} differs from what the checkpoint for size {size} (line {line.number}) signed",
                    anchored,
                    entry_lines[anchored],
                    size - 1,
                )
            )
            return
        anchored = size
    if anchored < tree.size:
        report.add(
            Finding(
                "unsigned",
                f"entries {anchored}..{tree.size - 1} are covered by no signed checkpoint",
                anchored,
                entry_lines[anchored],
                tree.size - 1,
            )
        )


def _check_trusted(
    notes: Sequence[str],
    keys: Sequence[ec.EllipticCurvePublicKey],
    origin: str | None,
    tree: merkle.MemoryTree,
    report: AuditReport,
) -> None:
    """Checkpoints the auditor kept from earlier must be prefixes of the exported tree."""
    for number, note in enumerate(notes, start=1):
        line = _Line(-number, note.encode())
        checkpoint = _verify_note(note, keys, origin, line, report)
        if checkpoint is None:
            continue
        if checkpoint.size > tree.size:
            report.add(
                Finding(
                    "truncated",
                    f"trusted checkpoint {number} covers {checkpoint.size} entries; the export holds {tree.size}",
                    tree.size,
                )
            )
            continue
        if checkpoint.size == 0:
            continue  # the empty tree is a prefix of every tree
        try:
            proof = tree.consistency_proof(checkpoint.size)
            merkle.verify_consistency(checkpoint.size, tree.size, checkpoint.root, tree.root(), proof)
        except CandorError as exc:
            report.add(
                Finding(
                    "inconsistent",
                    f"trusted checkpoint {number} (size {checkpoint.size}) is not a "
                    f"prefix of the exported log: {exc.detail}",
                    None,
                )
            )


def _verify_with_any(note: str, keys: Sequence[ec.EllipticCurvePublicKey], origin: str | None) -> Checkpoint:
    """The checkpoint, verified with whichever trusted key signed it; raises InvalidProof."""
    parsed = parse_checkpoint(note)
    for key in keys:
        if key_id(parsed.key_name, key) == parsed.key_id:
            return verify_checkpoint(note, key, origin=origin)
    raise InvalidProof(f"checkpoint signed by key {parsed.key_name!r} that is not among the trusted keys")


def verify_entry_inclusion(
    entry: bytes,
    index: int,
    audit_path: Sequence[bytes],
    checkpoint_note: str,
    public_keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Online check of one entry (its exact bytes, e.g. ``entry`` from ``GET /v1/audit/entries``) with
    the audit path for the checkpoint's size: the checkpoint must be signed by a trusted key and
    the path must lead to its root. Returns the checkpoint; raises InvalidProof."""
    checkpoint = _verify_with_any(checkpoint_note, public_keys, origin)
    merkle.verify_inclusion(index, checkpoint.size, merkle.leaf_hash(entry), audit_path, checkpoint.root)
    return checkpoint


def verify_log_growth(
    old_note: str,
    new_note: str,
    consistency: Sequence[bytes],
    public_keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Monitor step: a checkpoint saved earlier and a newer one are both signed by trusted keys, and
    the consistency proof shows the newer tree extends the older one (nothing rewritten). Returns
    the newer checkpoint, to keep for the next step; raises InvalidProof."""
    old = _verify_with_any(old_note, public_keys, origin)
    new = _verify_with_any(new_note, public_keys, origin)
    if old.size == 0:
        if consistency:
            raise InvalidProof("growth from the empty tree needs an empty proof")
        return new  # the empty tree is a prefix of every tree
    merkle.verify_consistency(old.size, new.size, old.root, new.root, consistency)
    return new
