"""The log's Merkle math against RFC 9162: the shared vectors (made outside the project) and
random trees checked against a plain recursive reference (tests/merkle_ref.py, from the RFC)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from exchange.translog.merkle import (
    Frontier,
    consistency_plan,
    evaluate,
    inclusion_plan,
    nodes_of,
    root_plan,
    verify_consistency,
    verify_inclusion,
)
from tests.merkle_ref import ref_leaf, ref_mth, ref_path, ref_subproof

VECTORS = json.loads((Path(__file__).parent.parent / "assets" / "merkle.json").read_text())


# --- the project's code over an in-memory node table ------------------------------------------


def build(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Append every leaf through Frontier, keeping each node it completes."""
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = Frontier(0, nodes)
    for data in leaves:
        for node, value in frontier.append(ref_leaf(data)):
            assert node not in nodes
            nodes[node] = value
    return nodes


def root(nodes: dict[tuple[int, int], bytes], size: int) -> bytes:
    plan = root_plan(size)
    return hashlib.sha256(b"").digest() if plan is None else evaluate(plan, nodes)


def proof(plans: list, nodes: dict[tuple[int, int], bytes]) -> list[bytes]:
    return [evaluate(p, nodes) for p in plans]


LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]


@pytest.mark.parametrize("tree", VECTORS["trees"], ids=lambda t: f"size{t['size']}")
def test_shared_vectors(tree: dict) -> None:
    size = tree["size"]
    nodes = build(LEAVES[:size])
    assert root(nodes, size).hex() == tree["root"]
    for inc in tree.get("inclusion", []):
        path = proof(inclusion_plan(inc["leaf_index"], size), nodes)
        assert [p.hex() for p in path] == inc["audit_path"]
        assert verify_inclusion(
            ref_leaf(LEAVES[inc["leaf_index"]]),
            inc["leaf_index"],
            size,
            path,
            bytes.fromhex(tree["root"]),
        )
    for con in tree.get("consistency", []):
        first = con["first"]
        got = proof(consistency_plan(first, size), nodes)
        assert [p.hex() for p in got] == con["proof"]
        first_root = next(t["root"] for t in VECTORS["trees"] if t["size"] == first)
        assert verify_consistency(
            first, size, bytes.fromhex(first_root), bytes.fromhex(tree["root"]), got
        )


def test_random_trees_match_the_reference() -> None:
    rng = random.Random(9162)
    for _ in range(60):
        n = rng.randint(1, 300)
        leaves = [rng.randbytes(rng.randint(0, 40)) for _ in range(n)]
        nodes = build(leaves)
        for size in {1, n, rng.randint(1, n), rng.randint(1, n)}:
            expected_root = ref_mth(leaves[:size])
            assert root(nodes, size) == expected_root
            for m in {0, size - 1, rng.randrange(size)}:
                path = proof(inclusion_plan(m, size), nodes)
                assert path == ref_path(m, leaves[:size])
                assert verify_inclusion(ref_leaf(leaves[m]), m, size, path, expected_root)
            for first in {1, size, rng.randint(1, size)}:
                got = proof(consistency_plan(first, size), nodes)
                assert got == ref_subproof(first, leaves[:size], True)
                assert verify_consistency(first, size, ref_mth(leaves[:first]), expected_root, got)


def test_proofs_need_few_nodes() -> None:
    """O(log n) stored nodes per proof, whatever the sizes."""
    for size in (1, 2, 3, 1000, 1_000_000, 2**40 + 12345):
        bound = 2 * size.bit_length() + 2
        assert len(nodes_of([root_plan(size)])) <= bound
        assert len(nodes_of(inclusion_plan(size // 3, size))) <= bound
        assert len(nodes_of(consistency_plan(max(1, size // 7), size))) <= bound


def test_forged_proofs_are_rejected() -> None:
    rng = random.Random(6962)
    leaves = [rng.randbytes(8) for _ in range(37)]
    nodes = build(leaves)
    r = root(nodes, 37)
    path = proof(inclusion_plan(5, 37), nodes)
    assert not verify_inclusion(ref_leaf(b"other"), 5, 37, path, r)
    assert not verify_inclusion(ref_leaf(leaves[5]), 6, 37, path, r)
    assert not verify_inclusion(ref_leaf(leaves[5]), 5, 37, path[:-1], r)
    assert not verify_inclusion(ref_leaf(leaves[5]), 5, 37, [*path, path[0]], r)
    assert not verify_inclusion(ref_leaf(leaves[5]), 37, 37, path, r)
    con = proof(consistency_plan(20, 37), nodes)
    r20 = root(nodes, 20)
    assert verify_consistency(20, 37, r20, r, con)
    assert not verify_consistency(20, 37, ref_mth(leaves[:19]), r, con)
    assert not verify_consistency(20, 37, r20, ref_mth([*leaves[:36], b"x"]), con)
    assert not verify_consistency(20, 37, r20, r, con[:-1])
    assert not verify_consistency(37, 20, r, r20, con)
    assert not verify_consistency(37, 37, r, r20, [])
    # a fork: a tree that rewrote leaf 3 cannot prove itself an extension of the original
    forked = [*leaves[:3], b"rewritten", *leaves[4:]]
    fnodes = build(forked)
    assert not verify_consistency(
        20, 37, r20, root(fnodes, 37), proof(consistency_plan(20, 37), fnodes)
    )
