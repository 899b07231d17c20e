"""Several `exchange serve` workers of one importing exchange on one PostgreSQL database pull
the same peer (issue 16: "several per worker pool must not double-import"): the lease in the
database lets one worker pull a peer at a time, so every object is imported once, counted
once and is one leaf of the importer's log, however the pulls of the workers interleave.
(The import itself is idempotent too: with the lease switched off by hand this test still
passes, so the lease saves the workers duplicate work; it is not what keeps the store right.)"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from exchange.config import Settings
from tests.api.conftest import FEDERATION_PULL, get, post_objects, start_exchange, successes
from tests.api.test_federation_import import ids, peer_show
from tests.api.test_federation_serving import register_peer
from tests.conftest import (
    LiveServer,
    cli_json,
    free_port,
    fresh_pg_schema,
    indicator,
    new_sqlite_db,
    pg_fetchval,
    register_member,
    run_cli,
    until,
)

WORKERS = 3
OBJECTS = 400


async def stored_versions(db_url: str) -> tuple[int, int]:
    rows = await pg_fetchval(db_url, "SELECT COUNT(*) FROM objects")
    distinct = await pg_fetchval(
        db_url, "SELECT COUNT(*) FROM (SELECT DISTINCT stix_id, version FROM objects) AS v"
    )
    return int(rows), int(distinct)


def test_workers_on_one_database_import_each_object_once(tmp_path: Path) -> None:
    rounds = 4
    y_db = new_sqlite_db(tmp_path / "y.db")
    with contextlib.ExitStack() as stack:
        x_db = stack.enter_context(fresh_pg_schema())  # dropped last, after every server stops
        y = start_exchange(y_db)
        stack.callback(y.stop)
        cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
        x_on_y = register_peer(y_db, "X", "MY", "green")
        assert run_cli("admin", "migrate", "--db", x_db)[0] == 0
        cli_json(
            "admin", "peer", "add", "Y", "--url", y.api_root, "--token", x_on_y.token,
            "--db", x_db,
        )  # fmt: skip
        reader = register_member(x_db, tmp_path, "Bank-MY", economy="MY")
        workers: list[LiveServer] = []
        for _ in range(WORKERS):
            live = LiveServer(
                Settings(
                    db=x_db,
                    port=free_port(),
                    peer_pull_seconds=FEDERATION_PULL,
                    log_head_seconds=0.2,
                )
            )
            live.start()
            stack.callback(live.stop)
            workers.append(live)
        # posted in bursts while the workers pull, so that pulls overlap with new objects
        sent: list[str] = []
        per_round = OBJECTS // rounds
        for _ in range(rounds):
            batch = [cert.sign(indicator("clear")) for _ in range(per_round)]
            assert len(successes(post_objects(y, cert.token, batch))) == per_round
            sent.extend(o["id"] for o in batch)
        assert until(lambda: set(sent) <= ids(workers[0], reader.token), 60), peer_show(x_db, "Y")
        shown = peer_show(x_db, "Y")
        assert shown["problems"] == [], shown
        # each object version stored once and one leaf of X's log, whichever worker asks
        rows, distinct = asyncio.run(stored_versions(x_db))
        assert rows == distinct
        sizes = {get(live, "log/", reader.token).json()["tree_size"] for live in workers}
        assert sizes == {rows}, (sizes, rows)
        # counted once: the indicators and what else Y let X read (its members' identities)
        proofs = int(asyncio.run(pg_fetchval(x_db, "SELECT COUNT(*) FROM peer_proofs")))
        assert shown["imported"] == proofs >= OBJECTS, (shown, proofs)
