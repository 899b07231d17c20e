"""The transparency log's costs: proof latency at a large tree, and ingest with and without
the log, on SQLite or PostgreSQL. Figures in docs/performance.md.

    .venv/bin/python bench/translog.py [--db postgresql://postgres@127.0.0.1:5432/postgres]
        [--leaves 1000000] [--proofs 2000] [--objects 2000] [--batch 100] [--rounds 3]

Proofs: a fresh database gets ``--leaves`` synthetic leaves through the store's own append
step (exchange.store.translog.append_leaves, in transactions of 10,000 leaves), then random
roots, inclusion proofs and consistency proofs are built the way the service builds them
(one read of the stored subtree nodes, then hashing): p50/p99 per proof.

Ingest: the publish pipeline in process (validation, signature checks, one insert per
envelope of ``--batch`` signed indicators), ``--rounds`` times with the log and without it
(its append step and leaf hashing replaced by no-ops), alternating, on fresh databases; the
log runs with its head task every 0.5 s (four times the default rate). Objects per second,
median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import fresh_database, indicator, log, machine, percentile, workdir
from exchange.store import sql as sql_module
from exchange.store import translog
from exchange.store.base import open_store
from exchange.translog.merkle import (
    consistency_plan,
    evaluate,
    inclusion_plan,
    nodes_of,
    root_plan,
)

CHUNK = 10_000


async def fill(url: str, leaves: int) -> float:
    store: Any = open_store(url)
    await store.open()
    started = time.perf_counter()
    try:
        for start in range(0, leaves, CHUNK):
            rows = [
                (
                    i + 1,
                    f"bench--{i}",
                    "2026-01-01T00:00:00.000000Z",
                    hashlib.sha256(i.to_bytes(8, "big")).digest(),
                )
                for i in range(start, min(leaves, start + CHUNK))
            ]
            async with store.transaction(write=True) as tx:
                await store.lock_ingest(tx)
                await translog.append_leaves(tx, rows)
            if start and start % 200_000 == 0:
                log(f"  {start} leaves")
    finally:
        await store.close()
    return time.perf_counter() - started


async def proofs(url: str, count: int) -> dict[str, dict[str, float]]:
    store: Any = open_store(url)
    await store.open()
    rng = random.Random(9162)
    out: dict[str, dict[str, float]] = {}
    try:
        n = await store.log.log_size()

        async def timed(make: Callable[[], list[Any]]) -> dict[str, float]:
            times, reads = [], []
            for _ in range(count):
                plans = make()
                begin = time.perf_counter()
                held = await store.log.log_nodes(nodes_of(plans))
                [evaluate(p, held) for p in plans]
                times.append((time.perf_counter() - begin) * 1000)
                reads.append(len(held))
            return {
                "p50_ms": round(percentile(times, 50), 3),
                "p99_ms": round(percentile(times, 99), 3),
                "nodes_read_max": max(reads),
            }

        out["root"] = await timed(lambda: [root_plan(rng.randint(1, n))])
        out["inclusion"] = await timed(lambda: inclusion_plan(rng.randrange(n), n))

        def consistency() -> list[Any]:
            first = rng.randint(1, n)
            return consistency_plan(first, rng.randint(first, n))

        out["consistency"] = await timed(consistency)
    finally:
        await store.close()
    return out


async def ingest(url: str, objects: int, batch: int, with_log: bool) -> tuple[float, float]:
    """(objects per second, CPU ms of this process per object: every thread, the
    validation thread and SQLite included; not a PostgreSQL server's)."""
    from exchange.config import Settings
    from exchange.crypto import SigningKey, sign_object
    from exchange.services.runtime import open_services

    services = await open_services(Settings(db=url, log_head_seconds=0.5))
    try:
        member = await services.members.add("bench", "government", "government", "DE")
        _, pem = await services.keys.generate(member.id)
        key = SigningKey.from_pem(pem)
        principal = await services.auth.for_member(member.id)
        bodies = [
            json.dumps(
                {
                    "objects": [
                        sign_object(indicator(member.identity, "green", n=i), key)
                        for i in range(s, s + batch)
                    ]
                }
            ).encode()
            for s in range(0, objects, batch)
        ]
        if with_log:
            services.log.start()
        begin, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            status = await services.publish.publish(principal, body)
            assert status.success_count == batch, status.failures[:1]
        elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
        if with_log:
            await services.log.stop()
            assert (await services.log.head()).tree_size == await services.store.log.log_size()
        return objects / elapsed, 1000 * cpu / objects
    finally:
        await services.ledger.stop()
        await services.store.close()


def without_log() -> Callable[[], None]:
    """Replace the log's insert step and leaf hashing by no-ops; returns the undo."""
    append, leaf = translog.append_leaves, sql_module.object_leaf_hash

    async def no_append(tx: Any, leaves: Any) -> None:
        return None

    translog.append_leaves = no_append  # type: ignore[assignment]
    sql_module.object_leaf_hash = lambda body: b""  # type: ignore[assignment]

    def undo() -> None:
        translog.append_leaves = append  # type: ignore[assignment]
        sql_module.object_leaf_hash = leaf  # type: ignore[assignment]

    return undo


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", help="PostgreSQL server URL (a fresh database is made); default SQLite"
    )
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-proofs", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": machine(),
        "store": "postgresql" if args.db else "sqlite",
        "leaves": args.leaves,
    }
    with workdir() as work:
        if not args.skip_proofs:
            with fresh_database(args.db, work) as db:
                log(f"filling {args.leaves} leaves")
                result["fill_seconds"] = round(run(fill(db.url, args.leaves)), 1)
                result["proofs"] = run(proofs(db.url, args.proofs))
                log(json.dumps(result["proofs"]))
        warm = work / "warm-up"
        warm.mkdir()
        with fresh_database(args.db, warm) as db:  # imports, schema caches: not measured
            run(ingest(db.url, min(args.objects, 2 * args.batch), args.batch, True))
        rates: dict[str, list[float]] = {"with_log": [], "without_log": []}
        cpus: dict[str, list[float]] = {"with_log": [], "without_log": []}
        for round_ in range(args.rounds):
            for with_log in (True, False) if round_ % 2 == 0 else (False, True):
                sub = work / f"ingest-{round_}-{with_log}"
                sub.mkdir()
                with fresh_database(args.db, sub) as db:
                    undo = None if with_log else without_log()
                    try:
                        rate, cpu = run(ingest(db.url, args.objects, args.batch, with_log))
                    finally:
                        if undo:
                            undo()
                name = "with_log" if with_log else "without_log"
                rates[name].append(rate)
                cpus[name].append(cpu)
                log(f"round {round_} {name}: {rate:.0f} objects/s, {cpu:.2f} ms CPU per object")
        med = {k: round(statistics.median(v), 1) for k, v in rates.items()}
        result["ingest_objects_per_s"] = {
            **med,
            "rounds": rates,
            "slowdown_pct": round(100 * (1 - med["with_log"] / med["without_log"]), 1),
        }
        cmed = {k: round(statistics.median(v), 3) for k, v in cpus.items()}
        result["ingest_cpu_ms_per_object"] = {
            **cmed,
            "rounds": cpus,
            "extra_pct": round(100 * (cmed["with_log"] / cmed["without_log"] - 1), 1),
        }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
