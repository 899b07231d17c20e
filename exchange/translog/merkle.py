"""RFC 9162 Merkle tree math over stored complete subtrees (no I/O).

The store keeps the hash of every complete, aligned subtree: node ``(level, index)`` is the
root of leaves ``[index * 2**level, (index + 1) * 2**level)``, level 0 being the leaf hashes.
A node, once complete, never changes, so it serves every tree size that covers it. Every
proof and every root is built from O(log n) such nodes: the functions here say which nodes
(:func:`inclusion_plan`, :func:`consistency_plan`, :func:`root_plan`), the caller fetches
them in one read, and :func:`evaluate` combines them. The log is never rehashed.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) follows RFC 9162
sections 2.1.3.2 and 2.1.4.2 literally; it is what members run on what the exchange serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from exchange.crypto import leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "Node",
    "Plan",
    "consistency_plan",
    "evaluate",
    "inclusion_plan",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "root_plan",
    "verify_consistency",
    "verify_inclusion",
]

Node = tuple[int, int]  # (level, index)
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


@dataclass(frozen=True)
class Plan:
    """How to hash the leaf range ``[start, end)``: one stored node when it is a complete
    aligned subtree, else the RFC 9162 split into a left and a right range."""

    start: int
    end: int
    node: Node | None = None
    left: Plan | None = None
    right: Plan | None = None

    def nodes(self) -> list[Node]:
        if self.node is not None:
            return [self.node]
        assert self.left is not None and self.right is not None
        return self.left.nodes() + self.right.nodes()


def range_plan(start: int, end: int) -> Plan:
    size = end - start
    if size <= 0:
        raise ValueError("an empty range has no subtree")
    if size & (size - 1) == 0 and start % size == 0:
        return Plan(start, end, node=(size.bit_length() - 1, start // size))
    k = _split(size)
    return Plan(start, end, left=range_plan(start, start + k), right=range_plan(start + k, end))


def evaluate(plan: Plan, hashes: Mapping[Node, bytes]) -> bytes:
    """The hash of a planned range; KeyError when a stored node is missing."""
    if plan.node is not None:
        return hashes[plan.node]
    assert plan.left is not None and plan.right is not None
    return node_hash(evaluate(plan.left, hashes), evaluate(plan.right, hashes))


def root_plan(tree_size: int) -> Plan | None:
    """The root of a tree of ``tree_size`` leaves (None: the empty tree, SHA-256 of nothing)."""
    return range_plan(0, tree_size) if tree_size > 0 else None


def inclusion_plan(leaf_index: int, tree_size: int) -> list[Plan]:
    """The audit path of RFC 9162 section 2.1.3.1, leaf side first, as ranges to hash."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError("leaf index outside the tree")
    top_down: list[Plan] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _split(end - start)
        if leaf_index < start + k:
            top_down.append(range_plan(start + k, end))
            end = start + k
        else:
            top_down.append(range_plan(start, start + k))
            start = start + k
    return top_down[::-1]


def consistency_plan(first: int, second: int) -> list[Plan]:
    """The consistency proof of RFC 9162 section 2.1.4.1 (SUBPROOF), as ranges to hash."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    top_down: list[Plan] = []
    start, end, whole = 0, second, True
    while True:
        size = end - start
        m = first - start
        if m == size:
            if not whole:
                top_down.append(range_plan(start, end))
            break
        k = _split(size)
        if m <= k:
            top_down.append(range_plan(start + k, end))
            end = start + k
        else:
            top_down.append(range_plan(start, start + k))
            start, whole = start + k, False
    return top_down[::-1]


def nodes_of(plans: Iterable[Plan | None]) -> list[Node]:
    """Every stored node the plans need, once each."""
    out: dict[Node, None] = {}
    for plan in plans:
        if plan is not None:
            out.update(dict.fromkeys(plan.nodes()))
    return list(out)


# --- appending --------------------------------------------------------------------------------


class Frontier:
    """The complete subtrees on the right edge of a tree (one per set bit of its size): all
    that appending needs. ``append`` returns every node the new leaf completes."""

    def __init__(self, size: int, hashes: Mapping[Node, bytes]) -> None:
        self.size = size
        self.stack: list[tuple[Node, bytes]] = [(n, hashes[n]) for n in self.nodes(size)]

    @staticmethod
    def nodes(size: int) -> list[Node]:
        """The right-edge nodes of a tree of ``size`` leaves, left to right."""
        out: list[Node] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        made: list[tuple[Node, bytes]] = [((0, self.size), leaf)]
        node, value = (0, self.size), leaf
        while self.stack and self.stack[-1][0][0] == node[0]:
            (level, index), left = self.stack.pop()
            node, value = (level + 1, index >> 1), node_hash(left, value)
            made.append((node, value))
        self.stack.append((node, value))
        self.size += 1
        return made


# --- verification (what a member runs) --------------------------------------------------------


def root_from_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, audit_path: Sequence[bytes]
) -> bytes | None:
    """The root an audit path leads to from ``leaf`` (RFC 9162 2.1.3.2), None if malformed."""
    if not 0 <= leaf_index < tree_size:
        return None
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in audit_path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, audit_path: Sequence[bytes], root: bytes
) -> bool:
    return root_from_inclusion(leaf, leaf_index, tree_size, audit_path) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
