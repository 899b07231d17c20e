"""A 202 whose status says `complete` means the objects are on disk: `kill -9` right after
loses none of them, and a `next` cursor taken before the crash still works after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.conftest import TAXII, free_port, indicator, serving_within

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


@contextmanager
def serve(db_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).parent / "exchange"
    proc = subprocess.Popen(
        [str(exe), "--db", db_url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        serving_within(port)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_complete_status_survives_kill_9(db_url: str, make_member: Any) -> None:
    member = make_member()
    port = free_port()
    root = f"http://127.0.0.1:{port}/api/v1/collections/bulletins/"
    auth = {"Authorization": f"Bearer {member.token}"}
    posted: list[str] = []
    with serve(db_url, port) as proc:
        cursor = requests.get(root + "objects/?limit=1", headers={**HEADERS, **auth}, timeout=10)
        assert cursor.status_code == 200, cursor.text
        first_next = cursor.json()["next"]
        for _ in range(5):
            objects = [member.sign(indicator("green")) for _ in range(20)]
            answer = requests.post(
                root + "objects/",
                json={"objects": objects},
                headers={**HEADERS, **auth},
                timeout=30,
            )
            assert answer.status_code == 202
            assert answer.json()["status"] == "complete"
            assert answer.json()["success_count"] == 20
            posted.extend(o["id"] for o in objects)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    with serve(db_url, port):
        seen: list[str] = []
        params: dict[str, str] = {"limit": "50", "next": first_next}
        for _ in range(100):
            page = requests.get(
                root + "objects/", params=params, headers={**HEADERS, **auth}, timeout=10
            ).json()
            seen.extend(o["id"] for o in page.get("objects", []))
            if not page.get("more"):
                break
            params = {"limit": "50", "next": page["next"]}
        assert set(posted) <= set(seen)
        assert len(seen) == len(set(seen))


def test_kill_9_during_ingest_leaves_log_and_objects_in_agreement(
    db_url: str, make_member: Any
) -> None:
    """SIGKILL while envelopes are being stored: afterwards every stored object version has
    exactly one leaf, in storage order, and the tree is the RFC 9162 tree over exactly the
    stored bodies (tests/merkle_ref.py), so nothing is stored without its leaf or the reverse."""
    import asyncio
    import json
    import sqlite3
    import threading

    from exchange.store.sqlite import SqliteStore, sqlite_path
    from exchange.translog.merkle import evaluate, root_plan
    from tests.merkle_ref import jcs, ref_mth

    member = make_member()
    port = free_port()
    root = f"http://127.0.0.1:{port}/api/v1/collections/bulletins/"
    auth = {"Authorization": f"Bearer {member.token}"}
    stop = threading.Event()
    batches = [[member.sign(indicator("green")) for _ in range(10)] for _ in range(100)]

    def post_forever() -> None:
        for objects in batches:
            if stop.is_set():
                return
            try:
                requests.post(
                    root + "objects/",
                    json={"objects": objects},
                    headers={**HEADERS, **auth},
                    timeout=30,
                )
            except requests.RequestException:
                return

    with serve(db_url, port) as proc:
        poster = threading.Thread(target=post_forever)
        poster.start()
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        poster.join(30)

    with sqlite3.connect(sqlite_path(db_url)) as conn:
        bodies = conn.execute("SELECT seq, body FROM objects ORDER BY seq").fetchall()
        leaves = conn.execute(
            "SELECT leaf_index, seq FROM log_leaves ORDER BY leaf_index"
        ).fetchall()
    assert len(bodies) > 3  # the exchange's own objects and some of the posted ones
    assert [seq for _, seq in leaves] == [seq for seq, _ in bodies]
    assert [index for index, _ in leaves] == list(range(len(bodies)))

    async def stored_root() -> bytes:
        store = SqliteStore(db_url)
        await store.open()
        try:
            size = await store.log.log_size()
            plan = root_plan(size)
            assert plan is not None
            return evaluate(plan, await store.log.log_nodes(plan.nodes()))
        finally:
            await store.close()

    assert asyncio.run(stored_root()) == ref_mth([jcs(json.loads(b)) for _, b in bodies])
