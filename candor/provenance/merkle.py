"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification, as pure functions.

The tree over leaves ``d[0:n]`` hashes a leaf as ``SHA-256(0x00 || d)`` and an inner node as
``SHA-256(0x01 || left || right)``; the empty tree's root is ``SHA-256("")``. Every hash is 32 bytes.

Storage-friendly view: a *node* ``Node(level, index)`` is the root of the perfect subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``. Perfect subtrees never change once their last
leaf is appended, so a log can store them as it grows. Every proof element (and every root) is the
hash of a range ``[start, end)`` whose start is aligned to a power of two at least as large as the
range; such a range is a short run of perfect nodes (:func:`range_nodes`) folded right to left
(:func:`fold_range`). Proof generation is therefore written in two steps: which ranges
(:func:`inclusion_ranges`, :func:`consistency_ranges`), then their hashes from any node source
(:func:`hash_ranges`) - a database, or :class:`MemoryTree` in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from candor.errors import InvalidInput, InvalidProof

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # e3b0c442...b855, RFC 6962 MTH({})

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash ``SHA-256(0x00 || entry)`` (32 bytes)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash ``SHA-256(0x01 || left || right)`` (32 bytes)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, order=True)
class Node:
    """Root of the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up ``[start, end)``, left to right (largest first).

    ``start`` must be aligned to a power of two >= ``end - start`` (true of every range an RFC 6962
    proof or root uses); then the run follows the set bits of ``end - start``.
    """
    size = end - start
    if size <= 0:
        raise InvalidInput(f"empty or negative range [{start}, {end})")
    if start & ((1 << (size - 1).bit_length()) - 1):
        raise InvalidInput(f"range [{start}, {end}) is not aligned for a Merkle subtree")
    nodes = []
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append(Node(level, position >> level))
            position += 1 << level
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from the hashes of its :func:`range_nodes`, folded right to left."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form the RFC 9162 inclusion proof (audit path) of leaf ``index``.

    Ordered from the leaf's sibling up to the root's other child, as RFC 9162 section 2.1.3.1.
    """
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()  # descent collected root-first; the proof lists the leaf's sibling first
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form the RFC 9162 consistency proof from ``old_size`` to ``new_size``.

    Requires ``0 < old_size <= new_size``; equal sizes give an empty proof (section 2.1.4.1).
    """
    if not 0 < old_size <= new_size:
        raise InvalidInput(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, new_size, True  # SUBPROOF(old_size - start, D[start:end], whole)
    while old_size != end:
        k = _largest_power_of_two_below(end - start)
        if old_size - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False  # the old tree is no longer a left-aligned whole subtree of this one
    if not whole:
        ranges.append((start, end))  # the old tree's own subtree is only needed below the top
    ranges.reverse()
    return ranges


def hash_ranges(
    ranges: Sequence[tuple[int, int]], fetch: Callable[[Sequence[Node]], Mapping[Node, bytes]]
) -> list[bytes]:
    """Hashes of ``ranges``, asking ``fetch`` once for all the perfect nodes they need."""
    per_range = [range_nodes(start, end) for start, end in ranges]
    wanted = sorted({node for nodes in per_range for node in nodes})
    known = fetch(wanted)
    missing = [node for node in wanted if node not in known]
    if missing:
        raise InvalidInput(f"node store lacks {len(missing)} subtree hashes (first {missing[0]})")
    return [fold_range([known[node] for node in nodes]) for nodes in per_range]


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise InvalidProof(f"{name} must be {HASH_SIZE} bytes")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 section 2.1.3.2); raises InvalidProof."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    fn, sn, r = index, size - 1, bytes(leaf)
    for position, p in enumerate(proof):
        _check_hash(f"proof element {position}", p)
        if sn == 0:
            raise InvalidProof(f"proof is too long for leaf {index} in a tree of size {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # skip the levels where this node has no right sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof(f"proof is too short for leaf {index} in a tree of size {size}")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``; raises InvalidProof."""
    _check_hash("root", root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise InvalidProof(f"inclusion proof for leaf {index} does not lead to the tree-{size} root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root); raises InvalidProof.

    RFC 9162 section 2.1.4.2. A proof from the empty tree is meaningless and refused, as in
    transparency-dev/merkle; equal sizes need an empty proof and equal roots.
    """
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if old_size < 1 or new_size < old_size:
        raise InvalidProof(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("equal sizes need an empty consistency proof")
        if old_root != new_root:
            raise InvalidProof(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise InvalidProof("empty consistency proof for different sizes")
    for position, p in enumerate(proof):
        _check_hash(f"proof element {position}", p)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)  # a perfect old tree is its own first node; RFC 9162 omits it
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof is too short")
    if fr != old_root:
        raise InvalidProof(f"consistency proof does not lead to the old tree-{old_size} root")
    if sr != new_root:
        raise InvalidProof(f"consistency proof does not lead to the new tree-{new_size} root")


def extend_frontier(size: int, frontier: Sequence[bytes], leaf: bytes) -> tuple[list[bytes], list[bytes]]:
    """Append one leaf hash to a compact tree of ``size`` leaves.

    ``frontier`` holds the hashes of :func:`range_nodes` ``(0, size)`` (largest first). Returns the
    new frontier and the hashes of the perfect nodes the leaf completes, bottom up: element ``l``
    is ``Node(l, size >> l)`` - the leaf itself at level 0. Amortized O(1), at most O(log n).
    """
    if len(frontier) != size.bit_count():
        raise InvalidInput(f"frontier of {len(frontier)} hashes does not fit a tree of size {size}")
    stack = list(frontier)
    created = [leaf]
    h, n = leaf, size
    while n & 1:  # each trailing 1 bit of the old size is a left sibling the new leaf completes
        h = node_hash(stack.pop(), h)
        created.append(h)
        n >>= 1
    stack.append(h)
    return stack, created


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """Root of a tree from its frontier (the perfect subtrees of ``[0, size)``, largest first)."""
    return fold_range(frontier)


class MemoryTree:
    """An in-memory RFC 6962 tree: every perfect node kept, so proofs cost O(log n) lookups.

    For tests, offline audit and the benchmark's bulk build; the generation log keeps the same
    nodes in its database.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]  # levels[l][i] = hash of Node(l, i)
        self.frontier: list[bytes] = []
        for leaf in leaves:
            self.append_leaf_hash(leaf)

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> MemoryTree:
        return cls(leaf_hash(entry) for entry in entries)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_leaf_hash(self, leaf: bytes) -> None:
        size = self.size
        self.frontier, created = extend_frontier(size, self.frontier, leaf)
        for level, h in enumerate(created):
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(h)

    def nodes(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``wanted`` (missing nodes are left out)."""
        found = {}
        for node in wanted:
            if node.level < len(self.levels) and node.index < len(self.levels[node.level]):
                found[node] = self.levels[node.level][node.index]
        return found

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise InvalidInput(f"tree size {size} is outside 0..{self.size}")
        if size == 0:
            return EMPTY_ROOT
        return hash_ranges([(0, size)], self.nodes)[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise InvalidInput(f"tree size {size} exceeds the {self.size} leaves held")
        return hash_ranges(inclusion_ranges(index, size), self.nodes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise InvalidInput(f"tree size {new_size} exceeds the {self.size} leaves held")
        return hash_ranges(consistency_ranges(old_size, new_size), self.nodes)
