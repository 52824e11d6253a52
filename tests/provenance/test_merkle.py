"""RFC 6962 Merkle tree: known answers, agreement with the RFC's recursive definitions, and
negative vectors in the style of transparency-dev/merkle (every one must be refused)."""

from __future__ import annotations

import hashlib

import pytest

from candor.errors import InvalidInput, InvalidProof
from candor.provenance import merkle
from candor.provenance.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    Node,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_nodes,
    verify_consistency,
    verify_inclusion,
)

# The certificate-transparency reference leaves and the well-known roots of their prefixes.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
# Level-1 and level-2 perfect-subtree hashes of the reference tree.
LEVEL1 = [bytes.fromhex(h) for h in (
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
)]  # fmt: skip
LEVEL2 = [bytes.fromhex(h) for h in (
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
)]  # fmt: skip


# --- the RFC 6962 section 2.1 definitions, written recursively and independently ------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def corpus(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


# --- known answers ---------------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MemoryTree().root() == EMPTY_ROOT


def test_reference_tree_roots_for_every_prefix():
    tree = MemoryTree.from_entries(LEAVES)
    for size, want in enumerate(ROOTS):
        assert tree.root(size) == want, size
    assert tree.nodes([Node(1, i) for i in range(4)]) == {Node(1, i): h for i, h in enumerate(LEVEL1)}
    assert tree.nodes([Node(2, 0), Node(2, 1)]) == {Node(2, 0): LEVEL2[0], Node(2, 1): LEVEL2[1]}


def test_leaf_and_node_hash_domain_separation():
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert node_hash(leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])) == ROOTS[2]
    # A leaf whose bytes look like an inner node must not collide with that node (second preimage).
    forged = b"\x01"[1:] + leaf_hash(LEAVES[0]) + leaf_hash(LEAVES[1])
    assert leaf_hash(forged) != ROOTS[2]


def test_rfc6962_worked_example_of_seven_leaves():
    # RFC 6962 section 2.1.3: tree of d0..d6 with inner nodes g, h, i (pairs), k = H(g, h), l = H(i, j).
    tree = MemoryTree.from_entries(LEAVES[:7])
    a, b, c, d, e, f, j = (leaf_hash(x) for x in LEAVES[:7])
    g, h, i = LEVEL1[:3]
    k, l_ = LEVEL2[0], node_hash(i, j)
    assert tree.inclusion_proof(0, 7) == [b, h, l_]
    assert tree.inclusion_proof(3, 7) == [c, g, l_]
    assert tree.inclusion_proof(4, 7) == [f, j, k]
    assert tree.inclusion_proof(6, 7) == [i, k]
    assert tree.inclusion_proof(1, 7) == [a, h, l_]
    assert tree.inclusion_proof(5, 7) == [e, j, k]
    assert tree.consistency_proof(3, 7) == [c, d, g, l_]
    assert tree.consistency_proof(4, 7) == [l_]
    assert tree.consistency_proof(6, 7) == [i, j, k]
    assert tree.root(7) == ROOTS[7]


def test_reference_happy_path_inclusion_of_leaf0_in_8():
    tree = MemoryTree.from_entries(LEAVES)
    proof = tree.inclusion_proof(0, 8)
    assert proof == [leaf_hash(LEAVES[1]), LEVEL1[1], LEVEL2[1]]
    verify_inclusion(0, 8, leaf_hash(LEAVES[0]), proof, ROOTS[8])
    # The same three hashes are the consistency proof from size 1 to 8.
    assert tree.consistency_proof(1, 8) == proof
    verify_consistency(1, 8, ROOTS[1], ROOTS[8], proof)


# --- agreement with the recursive definitions ------------------------------------------------------


@pytest.mark.parametrize("n", [*range(1, 34), 63, 64, 65, 100])
def test_proofs_match_rfc_definitions_and_verify(n: int):
    d = corpus(n)
    tree = MemoryTree.from_entries(d)
    assert tree.root() == mth(d)
    for m in range(n):
        proof = tree.inclusion_proof(m)
        assert proof == path(m, d)
        verify_inclusion(m, n, leaf_hash(d[m]), proof, mth(d))
    for old in range(1, n + 1):
        proof = tree.consistency_proof(old)
        assert proof == subproof(old, d, True)
        verify_consistency(old, n, mth(d[:old]), mth(d), proof)


def test_proofs_for_historical_sizes_come_from_the_grown_tree():
    d = corpus(50)
    tree = MemoryTree.from_entries(d)
    for size in (1, 7, 16, 33):
        assert tree.root(size) == mth(d[:size])
        assert tree.inclusion_proof(size - 1, size) == path(size - 1, d[:size])
        assert tree.consistency_proof(size, 40) == subproof(size, d[:40], True)


def test_range_nodes_follow_the_bits_of_the_length():
    assert range_nodes(0, 13) == [Node(3, 0), Node(2, 2), Node(0, 12)]
    assert range_nodes(8, 16) == [Node(3, 1)]
    assert range_nodes(16, 19) == [Node(1, 8), Node(0, 18)]
    with pytest.raises(InvalidInput):
        range_nodes(3, 7)  # not an RFC 6962 subtree: unaligned start
    with pytest.raises(InvalidInput):
        range_nodes(4, 4)


def test_ranges_refuse_impossible_requests():
    with pytest.raises(InvalidInput):
        inclusion_ranges(5, 5)
    with pytest.raises(InvalidInput):
        inclusion_ranges(-1, 5)
    with pytest.raises(InvalidInput):
        consistency_ranges(0, 5)
    with pytest.raises(InvalidInput):
        consistency_ranges(6, 5)
    assert consistency_ranges(5, 5) == []


def test_frontier_append_matches_full_recompute():
    d = corpus(300)
    frontier: list[bytes] = []
    for size, entry in enumerate(d):
        frontier, created = merkle.extend_frontier(size, frontier, leaf_hash(entry))
        assert len(frontier) == (size + 1).bit_count()
        assert created[0] == leaf_hash(entry)
        # The last created node covers the 2**level leaves ending at this one.
        level = len(created) - 1
        assert created[-1] == mth(d[size + 1 - (1 << level) : size + 1])
        assert merkle.root_from_frontier(frontier) == mth(d[: size + 1])
    with pytest.raises(InvalidInput):
        merkle.extend_frontier(3, frontier[:1], leaf_hash(b"x"))


# --- negative vectors ------------------------------------------------------------------------------


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def inclusion_mutations(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes):
    """(description, index, size, leaf, proof, root) variants that must all fail."""
    other_root = hashlib.sha256(b"not the root").digest()
    yield "wrong leaf", index, size, leaf_hash(b"forged"), proof, root
    yield "leaf bit flipped", index, size, _flip(leaf, 0), proof, root
    yield "wrong root", index, size, leaf, proof, other_root
    yield "empty root", index, size, leaf, proof, EMPTY_ROOT
    yield "index + 1", index + 1, size, leaf, proof, root
    if index > 0:
        yield "index - 1", index - 1, size, leaf, proof, root
    yield "index xor 2", index ^ 2, size, leaf, proof, root
    yield "tree size doubled", index, size * 2, leaf, proof, root
    if size // 2 > index:
        yield "tree size halved", index, size // 2, leaf, proof, root
    for i, p in enumerate(proof):
        for bit in (0, 7, 100, 255):
            flipped = list(proof)
            flipped[i] = _flip(p, bit)
            yield f"proof[{i}] bit {bit} flipped", index, size, leaf, flipped, root
    if proof:
        yield "truncated proof", index, size, leaf, proof[:-1], root
        yield "first element removed", index, size, leaf, proof[1:], root
    if len(proof) > 1:
        yield "proof reversed", index, size, leaf, proof[::-1], root
    yield "padded with garbage", index, size, leaf, [*proof, other_root], root
    yield "garbage prepended", index, size, leaf, [other_root, *proof], root
    yield "root appended to proof", index, size, leaf, [*proof, root], root
    yield "root prepended to proof", index, size, leaf, [root, *proof], root
    if proof:
        yield "element inserted", index, size, leaf, [proof[0], other_root, *proof[1:]], root
        yield "short element", index, size, leaf, [proof[0][:31], *proof[1:]], root
        yield "long element", index, size, leaf, [proof[0] + b"\x00", *proof[1:]], root


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 8), (5, 8), (2, 3), (6, 7), (12, 13), (40, 65)])
def test_inclusion_negative_vectors(index: int, size: int):
    d = corpus(size)
    tree = MemoryTree.from_entries(d)
    leaf, proof, root = leaf_hash(d[index]), tree.inclusion_proof(index), tree.root()
    verify_inclusion(index, size, leaf, proof, root)
    cases = list(inclusion_mutations(index, size, leaf, proof, root))
    assert len(cases) >= 10
    for desc, i, s, lf, pr, rt in cases:
        with pytest.raises(InvalidProof):
            verify_inclusion(i, s, lf, pr, rt)
            pytest.fail(f"accepted: {desc}")  # reached only when the mutation was not refused


def consistency_mutations(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]):
    other = hashlib.sha256(b"garbage").digest()
    yield "wrong old root", old, new, other, new_root, proof
    yield "wrong new root", old, new, old_root, other, proof
    yield "roots swapped", old, new, new_root, old_root, proof
    yield "empty proof", old, new, old_root, new_root, []
    yield "old size + 1", old + 1, new, old_root, new_root, proof
    if old > 1:
        yield "old size - 1", old - 1, new, old_root, new_root, proof
    yield "old size xor 2", old ^ 2, new, old_root, new_root, proof
    yield "new size doubled", old, new * 2, old_root, new_root, proof
    if new // 2 >= old and new // 2 != new:
        yield "new size halved", old, new // 2, old_root, new_root, proof
    yield "old size zero", 0, new, EMPTY_ROOT, new_root, proof
    for i, p in enumerate(proof):
        for bit in (0, 9, 255):
            flipped = list(proof)
            flipped[i] = _flip(p, bit)
            yield f"proof[{i}] bit {bit}", old, new, old_root, new_root, flipped
    yield "truncated proof", old, new, old_root, new_root, proof[:-1]
    yield "padded proof", old, new, old_root, new_root, [*proof, other]
    yield "garbage prepended", old, new, old_root, new_root, [other, *proof]
    yield "old root prepended", old, new, old_root, new_root, [old_root, *proof]
    yield "new root appended", old, new, old_root, new_root, [*proof, new_root]


@pytest.mark.parametrize(("old", "new"), [(1, 2), (1, 8), (2, 8), (3, 7), (4, 7), (6, 8), (5, 13), (16, 40)])
def test_consistency_negative_vectors(old: int, new: int):
    d = corpus(new)
    tree = MemoryTree.from_entries(d)
    old_root, new_root, proof = tree.root(old), tree.root(), tree.consistency_proof(old)
    verify_consistency(old, new, old_root, new_root, proof)
    for desc, o, n, r1, r2, pr in consistency_mutations(old, new, old_root, new_root, proof):
        with pytest.raises(InvalidProof):
            verify_consistency(o, n, r1, r2, pr)
            pytest.fail(f"accepted: {desc}")


def test_consistency_edge_cases():
    r1, r2 = ROOTS[1], ROOTS[2]
    verify_consistency(1, 1, r1, r1, [])
    for args in [
        (1, 1, r1, r2, []),  # equal sizes, different roots: a fork
        (1, 1, r1, r1, [r1]),  # equal sizes but a non-empty proof
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, []),  # from the empty tree: meaningless
        (0, 1, EMPTY_ROOT, r1, []),
        (2, 1, r2, r1, []),
        (1, 2, r1, r2, []),
    ]:
        with pytest.raises(InvalidProof):
            verify_consistency(*args)


def test_inclusion_refuses_bad_shapes():
    with pytest.raises(InvalidProof):
        verify_inclusion(0, 0, leaf_hash(b""), [], EMPTY_ROOT)
    with pytest.raises(InvalidProof):
        verify_inclusion(0, 1, leaf_hash(b""), [], ROOTS[1][:16])
    with pytest.raises(InvalidProof):
        verify_inclusion(0, 1, "not bytes", [], ROOTS[1])  # type: ignore[arg-type]
    verify_inclusion(0, 1, leaf_hash(b""), [], ROOTS[1])
