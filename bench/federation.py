"""Federation on loopback: sync throughput and publish-on-Y -> readable-on-X delay.

Two exchanges (SQLite, in this process, real ports): Y, where a CERT publishes, and X, which
pulls Y (``exchange admin peer add``). Prints

- X's own ingest rate (objects per second posted to X directly, for comparison),
- the sync rate (objects per second X imports a backlog of N objects from Y),
- the delay from a publish on Y to the object being readable on X (p50/p99 over M single
  publishes, with the event stream waking the pull).

    .venv/bin/python -m bench.federation --objects 2000 --delays 50
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from exchange.config import Settings
from tests.api.conftest import post_objects
from tests.api.test_federation_serving import register_peer
from tests.conftest import (
    TAXII,
    LiveServer,
    cli_json,
    free_port,
    indicator,
    new_sqlite_db,
    register_member,
)


def serve(db: str, pull: float) -> LiveServer:
    live = LiveServer(Settings(db=db, port=free_port(), peer_pull_seconds=pull))
    live.start()
    return live


def readable(server: LiveServer, token: str, stix_id: str) -> bool:
    r = requests.get(
        f"{server.api_root}collections/bulletins/objects/{stix_id}/",
        headers={"Authorization": f"Bearer {token}", "Accept": TAXII},
        timeout=30,
    )
    return r.status_code == 200


def imported(db: str) -> int:
    return int(cli_json("admin", "peer", "show", "Y", "--db", db)["imported"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--delays", type=int, default=50)
    parser.add_argument("--pull-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        y_db, x_db = new_sqlite_db(tmp / "y.db"), new_sqlite_db(tmp / "x.db")
        y, x = serve(y_db, args.pull_seconds), serve(x_db, args.pull_seconds)
        try:
            cert = register_member(y_db, tmp, "CERT-MY", economy="MY")
            local = register_member(x_db, tmp, "CERT-X", economy="MY")
            peer = register_peer(y_db, "X", "MY", "green")
            backlog = [cert.sign(indicator("clear")) for _ in range(args.objects)]
            own = [local.sign(indicator("clear")) for _ in range(args.objects)]

            started = time.monotonic()
            for i in range(0, len(own), 500):
                post_objects(x, local.token, own[i : i + 500])
            ingest = len(own) / (time.monotonic() - started)

            for i in range(0, len(backlog), 500):
                post_objects(y, cert.token, backlog[i : i + 500])
            started = time.monotonic()
            cli_json(
                "admin", "peer", "add", "Y", "--url", y.api_root, "--token", peer.token,
                "--db", x_db,
            )  # fmt: skip
            while imported(x_db) < len(backlog):
                time.sleep(0.05)
            sync = len(backlog) / (time.monotonic() - started)

            delays: list[float] = []
            for _ in range(args.delays):
                obj = cert.sign(indicator("clear"))
                started = time.monotonic()
                post_objects(y, cert.token, [obj])
                while not readable(x, local.token, obj["id"]):
                    time.sleep(0.01)
                delays.append(time.monotonic() - started)
            delays.sort()
            p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
            print(
                f"objects {args.objects}: X ingest {ingest:.0f}/s, sync from Y {sync:.0f}/s "
                f"({100 * sync / ingest:.0f}% of ingest); publish on Y -> readable on X over "
                f"{len(delays)}: p50 {statistics.median(delays) * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms"
            )
        finally:
            x.stop()
            y.stop()


if __name__ == "__main__":
    main()
