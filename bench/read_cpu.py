"""CPU time of the read path per object, in process: robust on a shared, noisy machine.

    .venv/bin/python bench/read_cpu.py [--objects 5000] [--db sqlite|postgres] [--rounds 5]
    # another version side by side (run from "/" so that PYTHONPATH wins):
    cd / && PYTHONPATH=/path/to/other/checkout /work/main/.venv/bin/python /work/main/bench/read_cpu.py

Builds a fresh exchange through its services (a publisher in sector energy, a third of its
signed indicators AMBER for an audience marking ``sector:energy``, the rest GREEN or CLEAR,
a tenth with a second version), then for three readers (in the audience, outside it, the
anonymous public) walks ``bulletins`` (``public``) with ``next`` cursors, 1,000 a page, and
asks for first pages of 100, through ``ReadService`` as the HTTP handlers do. It reports
process CPU time (``time.process_time``: the SQLite engine runs in this process, so it is
counted; PostgreSQL's own work is not, so for PostgreSQL wall-clock medians are given too).
Prints one line per reader and the medians over the rounds. On SQLite it also counts the
engine's virtual-machine steps per object (a progress handler on the store's reading
connections, one call per 100 steps): unlike CPU time, that count does not move with the
machine's load, so two versions of the query compare exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if os.getcwd() != "/":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import exchange
from exchange.config import Settings
from exchange.crypto import SigningKey, sign_object
from exchange.services.runtime import open_services

TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
}
AUDIENCE_EXT = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"


def stamp(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def build(db: str, objects: int) -> tuple[Any, dict[str, Any]]:
    services = await open_services(Settings(db=db))
    pub = await services.members.add("publisher", "government", "energy", "NL")
    inside = await services.members.add("reader-energy", "private", "energy", "DE")
    outside = await services.members.add("reader-health", "private", "healthcare", "FR")
    _, pem = await services.keys.generate(pub.id)
    key = SigningKey.from_pem(pem)
    poster = await services.auth.for_member(pub.id, can_write=True)
    marking = sign_object(
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}",
            "created": stamp(),
            "created_by_ref": pub.identity,
            "extensions": {
                AUDIENCE_EXT: {
                    "extension_type": "property-extension",
                    "audience": ["sector:energy"],
                }
            },
        },
        key,
    )
    batch: list[dict[str, Any]] = [marking]
    for i in range(objects):
        now = stamp()
        tlp = "amber" if i % 3 == 0 else ("green" if i % 2 else "clear")
        refs = [TLP[tlp]] + ([marking["id"]] if tlp == "amber" else [])
        obj = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": now,
            "modified": now,
            "created_by_ref": pub.identity,
            "name": f"bench {i}",
            "pattern_type": "stix",
            "valid_from": now,
            "pattern": f"[ipv4-addr:value = '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}']",
            "object_marking_refs": refs,
        }
        batch.append(sign_object(obj, key))
        if i % 10 == 0:
            batch.append(sign_object(dict(obj, modified=stamp(1), name=f"bench {i} v2"), key))
        if len(batch) >= 500:
            status = await services.publish.publish(poster, json.dumps({"objects": batch}).encode())
            assert not status.failures, status.failures[:3]
            batch = []
    if batch:
        status = await services.publish.publish(poster, json.dumps({"objects": batch}).encode())
        assert not status.failures, status.failures[:3]
    readers = {
        "in the audience": await services.auth.for_member(inside.id),
        "outside it": await services.auth.for_member(outside.id),
    }
    return services, readers


async def walk(services: Any, principal: Any, collection: Any) -> int:
    params: dict[str, list[str]] = {"limit": ["1000"]}
    seen = 0
    while True:
        page = await services.read.objects(principal, collection, params)
        seen += len(page.objects)
        if not page.more:
            return seen
        params = {"limit": ["1000"], "next": [page.next]}


async def measure(args: argparse.Namespace, db: str) -> None:
    from exchange.policy import ANONYMOUS
    from exchange.services import read as read_module

    find = read_module.find_collection
    services, readers = await build(db, args.objects)
    steps = [0]

    def count_steps() -> int:
        steps[0] += 100
        return 0  # go on

    # The bench's own look inside the store: its reading connections (SQLite only).
    for conn in getattr(services.store, "_all_readers", []):
        await conn.set_progress_handler(count_steps, 100)
    try:
        cases = [(name, p, find("bulletins")) for name, p in readers.items()]
        cases.append(("anonymous public", ANONYMOUS, find("public")))
        print(
            f"exchange from {Path(exchange.__file__).parent.parent}, {args.db}, "
            f"{args.objects} objects"
        )
        for name, principal, collection in cases:
            walk_cpu, walk_wall, first_cpu, first_wall = [], [], [], []
            seen = walk_steps = 0
            first_steps = 0.0
            for _ in range(args.rounds):
                steps[0] = 0
                c0, w0 = time.process_time(), time.perf_counter()
                seen = await walk(services, principal, collection)
                walk_steps = steps[0]
                walk_cpu.append((time.process_time() - c0) / max(seen, 1))
                walk_wall.append((time.perf_counter() - w0) / max(seen, 1))
                steps[0] = 0
                for _ in range(20):
                    c0, w0 = time.process_time(), time.perf_counter()
                    await services.read.objects(principal, collection, {"limit": ["100"]})
                    first_cpu.append(time.process_time() - c0)
                    first_wall.append(time.perf_counter() - w0)
                first_steps = steps[0] / 20
            print(
                f"  {name:17} served {seen:6}: walk CPU {statistics.median(walk_cpu) * 1e6:6.1f}"
                f" µs/object (wall {statistics.median(walk_wall) * 1e6:6.1f}), first page CPU "
                f"{statistics.median(first_cpu) * 1e3:6.2f} ms (wall "
                f"{statistics.median(first_wall) * 1e3:6.2f})"
                + (
                    f", VM steps: walk {walk_steps / max(seen, 1):.0f}/object,"
                    f" first page {first_steps:.0f}"
                    if walk_steps
                    else ""
                )
            )
    finally:
        await services.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            asyncio.run(measure(args, f"sqlite:///{Path(tmp) / 'exchange.db'}"))
            return 0
        import subprocess

        dsn = os.environ.get("EXCHANGE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", dsn, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True)
        try:
            asyncio.run(measure(args, f"{dsn}?search_path={schema}"))
        finally:
            subprocess.run(
                ["psql", dsn, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"],
                check=True,
                capture_output=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
