"""The generation log over HTTP: entries page in order, and the proofs the API serves verify
against the signed checkpoint with the independent Merkle verifier."""

from __future__ import annotations

import base64
import hashlib

import pytest
from api_helpers import create_consent

from candor.errors import InvalidProof
from candor.provenance import merkle
from candor.provenance.checkpoint import load_public_key, verify_checkpoint


@pytest.fixture(scope="module")
def auditor(client, admin, consent_pdf):
    partner = admin.partner("Audit Office")
    worker = admin.key(partner, "generate")
    for i in range(3):  # some consent.created events on top of partner/key events
        create_consent(client, worker, consent_pdf, subject_name=f"Audited {i}")
    return admin.principal("Audit Office Auditor", "auditor")  # the whole log: an auditor, not a partner


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def test_entries_page_in_order_and_hash_to_their_leaves(client, auditor):
    first = client.get("/v1/audit/entries", headers=auditor.headers, params={"limit": 3}).json()
    assert [e["index"] for e in first["entries"]] == [0, 1, 2]
    assert first["next_start"] == 3
    second = client.get("/v1/audit/entries", headers=auditor.headers, params={"start": 3, "limit": 3}).json()
    assert second["entries"][0]["index"] == 3
    for entry in first["entries"] + second["entries"]:
        leaf = hashlib.sha256(b"\x00" + entry["entry"].encode()).digest()
        assert _b(entry["leaf_hash"]) == leaf
    events = {e["event_type"] for e in first["entries"] + second["entries"]}
    assert "partner.created" in events
    end = client.get("/v1/audit/entries", headers=auditor.headers, params={"start": 10**9}).json()
    assert end["entries"] == [] and end["next_start"] is None


def test_checkpoint_is_signed_and_proofs_verify(client, auditor):
    checkpoint = client.get("/v1/audit/checkpoint", headers=auditor.headers).json()
    key = load_public_key(checkpoint["public_key_pem"].encode())
    verified = verify_checkpoint(checkpoint["note"], key)
    size, root = verified.size, verified.root
    assert size == checkpoint["tree_size"] >= 6
    assert base64.b64encode(root).decode() == checkpoint["root_hash"]

    for index in (0, size // 2, size - 1):
        proof = client.get(
            "/v1/audit/proofs/inclusion", headers=auditor.headers, params={"index": index, "tree_size": size}
        ).json()
        entry = client.get("/v1/audit/entries", headers=auditor.headers, params={"start": index, "limit": 1}).json()
        leaf = merkle.leaf_hash(entry["entries"][0]["entry"].encode())
        path = [_b(h) for h in proof["audit_path"]]
        merkle.verify_inclusion(index, size, leaf, path, root)
        with pytest.raises(InvalidProof):  # and the verifier is not a rubber stamp
            merkle.verify_inclusion(index, size, hashlib.sha256(b"forged").digest(), path, root)

    old = max(1, size - 3)
    old_root = _b(
        client.get("/v1/audit/proofs/inclusion", headers=auditor.headers, params={"index": 0, "tree_size": old}).json()[
            "root_hash"
        ]
    )
    consistency = client.get(
        "/v1/audit/proofs/consistency", headers=auditor.headers, params={"first": old, "second": size}
    ).json()
    assert consistency["first"] == old and consistency["second"] == size
    merkle.verify_consistency(old, size, old_root, root, [_b(h) for h in consistency["consistency"]])


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/audit/proofs/inclusion", {"index": 10**6}, 404),
        ("/v1/audit/proofs/inclusion", {"index": 0, "tree_size": 10**9}, 422),
        ("/v1/audit/proofs/consistency", {"first": 10**9}, 422),
        ("/v1/audit/proofs/consistency", {"first": 0}, 422),
        ("/v1/audit/entries", {"limit": 5000}, 422),
    ],
)
def test_out_of_range_queries_are_problems(client, auditor, path, params, status):
    response = client.get(path, headers=auditor.headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
