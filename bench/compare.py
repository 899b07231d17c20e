"""The exchange against the OASIS reference server, medallion, in one run (issue 13): the same
signed indicators, the same load, the same machine, alternately.

    .venv/bin/python bench/compare.py [--objects 1000] [--rounds 1] [--readers 8] [--audiences]

- **medallion** runs from a throw-away virtual environment of its own (made on first use
  under ``--venv``, default ``$TMPDIR/exchange-bench-medallion``, with
  ``pip install medallion==3.0.0``), memory backend, HTTP basic auth, page size 1,000. It
  checks nothing: no schema, no signature, no sharing rule, nothing durable.
- **the exchange** runs as ``exchange serve`` on a fresh SQLite database (one worker), set up
  through the admin CLI as bench/load.py does; every object is validated, its signature
  verified, stored durably and logged before the POST answers ``complete``.

Measured for each (bench/load.py's own loops): ingest (objects/s, envelopes of --batch by
--posters clients), the full walk (pages of 1,000 with ``next``) and the first page
(``limit=100``, --readers concurrent readers; on the exchange as a member the sharing rules
filter), plus, in the same run, one core's bare JCS + Ed25519 verify rate (the issue's
yardstick). Prints one JSON line per system and round, then one with the medians and ratios.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    LOOPBACK,
    TAXII,
    BenchMember,
    Server,
    admin,
    collection_id,
    cpu_seconds,
    free_port,
    fresh_database,
    log,
    machine,
    workdir,
)
from ingest_compare import bare_verify_rate
from load import first_pages, ingest, make_objects, presign, setup_members, walk

MEDALLION = "medallion==3.0.0"
MEDALLION_USER, MEDALLION_PASSWORD = "bench", "bench-password"


# --- medallion ---------------------------------------------------------------------------------


def medallion_venv(where: Path) -> Path:
    """The medallion console script, installing it into ``where`` the first time."""
    script = where / "bin" / "medallion"
    if not script.exists():
        log(f"making a virtual environment for {MEDALLION} in {where}")
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
        subprocess.run(
            [str(where / "bin" / "pip"), "install", "--quiet", MEDALLION], check=True, timeout=600
        )
    return script


class Medallion:
    """medallion on a free loopback port, memory backend, one collection anyone may write."""

    def __init__(self, script: Path, wd: Path) -> None:
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.api = f"{self.base}/api1/"
        self.collection = str(uuid.uuid4())
        self.script = script
        self.wd = wd
        self.proc: subprocess.Popen[bytes] | None = None
        token = f"{MEDALLION_USER}:{MEDALLION_PASSWORD}".encode()
        self.authorization = "Basic " + base64.b64encode(token).decode()

    def _files(self) -> Path:
        data = {
            "/discovery": {
                "title": "bench",
                "description": "bench",
                "default": self.api,
                "api_roots": [self.api],
            },
            "api1": {
                "information": {
                    "title": "bench",
                    "description": "bench",
                    "versions": [TAXII],
                    "max_content_length": 200 * 1024 * 1024,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection,
                        "title": "bench",
                        "description": "bench",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        data_path = self.wd / "medallion-data.json"
        data_path.write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(data_path),
            },
            "users": {MEDALLION_USER: MEDALLION_PASSWORD},
            "taxii": {"max_page_size": 1000},
        }
        config_path = self.wd / "medallion-config.json"
        config_path.write_text(json.dumps(config))
        return config_path

    def start(self) -> None:
        config = self._files()
        with open(self.wd / "medallion.log", "wb") as out:
            self.proc = subprocess.Popen(
                [str(self.script), "--host", LOOPBACK, "--port", str(self.port), str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        asyncio.run(self._wait_ready())

    async def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Accept": TAXII, "Authorization": self.authorization}
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise SystemExit("bench: medallion exited early; see medallion.log")
                try:
                    async with session.get(self.base + "/taxii2/", headers=headers) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise SystemExit(f"bench: medallion did not answer within {timeout}s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# --- one round of one system -------------------------------------------------------------------


async def load_figures(
    api: str,
    collection: str,
    post_auth: list[str],
    read_auth: str,
    markings: list[bytes],
    encoded: list[bytes],
    args: argparse.Namespace,
    pid: int,
) -> dict[str, Any]:
    deadline = time.monotonic() + args.max_seconds
    cpu_before = cpu_seconds(pid)
    posted = await ingest(
        api, collection, post_auth, markings, encoded, args.batch, args.posters, deadline
    )
    cpu = cpu_seconds(pid) - cpu_before
    pages = len(encoded) // 1000 + 20
    walked = await walk(api, collection, read_auth, 1000, pages, deadline)
    # bounded in time as well as in count: medallion takes seconds per first page
    first_deadline = min(deadline, time.monotonic() + args.first_page_seconds)
    first = await first_pages(
        api, collection, read_auth, args.readers, args.requests, first_deadline
    )
    return {
        "ingest_objects_per_s": posted["objects_per_s"],
        "ingest_stored": posted["stored"],
        "ingest_server_cpu_ms_per_object": round(cpu * 1000 / posted["stored"], 3)
        if posted["stored"]
        else None,
        "walk_objects_per_s": walked["objects_per_s"],
        "walk_objects": walked["objects"],
        "first_page_requests_per_s": first["requests_per_s"],
        "first_page_p50_ms": first["p50_ms"],
        "first_page_p99_ms": first["p99_ms"],
        "first_page_errors": first["errors"],
    }


def signed_objects(
    args: argparse.Namespace, db_url: str, wd: Path, posters: int
) -> tuple[dict[str, Any], list[bytes], list[bytes]]:
    """Members on a fresh exchange database and the round's objects, signed by its CERT:
    (members, audience markings, indicators), encoded."""
    admin(db_url, "migrate")
    m = setup_members(db_url, wd, posters)
    publisher: BenchMember = m["publisher"]
    assert publisher.key is not None
    marking_objs, objects, _ = make_objects(args.objects, m, args.audiences, args.seed)
    pem = publisher.key.private_pem()
    markings = presign(pem, marking_objs) if marking_objs else []
    return m, markings, presign(pem, objects)


def exchange_round(args: argparse.Namespace, round_no: int, _: Path) -> dict[str, Any]:
    with workdir() as wd, fresh_database(None, wd) as db:
        m, markings, encoded = signed_objects(args, db.url, wd, args.posters)
        publisher: BenchMember = m["publisher"]
        server = Server(db.url, 1, wd)
        server.start()
        try:

            async def run() -> dict[str, Any]:
                async with aiohttp.ClientSession() as session:
                    bulletins = await collection_id(
                        session, server.api, publisher.token, "bulletins"
                    )
                return await load_figures(
                    server.api,
                    bulletins,
                    m["poster_tokens"],
                    m["filtered"].token,
                    markings,
                    encoded,
                    args,
                    server.pid,
                )

            figures = asyncio.run(run())
        finally:
            server.stop()
    return {"system": "exchange", "round": round_no, **figures}


def medallion_round(args: argparse.Namespace, round_no: int, script: Path) -> dict[str, Any]:
    with workdir() as wd, fresh_database(None, wd) as db:
        # The same kind of objects as the exchange's round: signed indicators of the same mix
        # (the members exist only to give the objects their authors and audiences).
        _, markings, encoded = signed_objects(args, db.url, wd, 1)
        server = Medallion(script, wd)
        server.start()
        try:
            figures = asyncio.run(
                load_figures(
                    server.api,
                    server.collection,
                    [server.authorization],
                    server.authorization,
                    markings,
                    encoded,
                    args,
                    server.pid,
                )
            )
        finally:
            server.stop()
    return {"system": "medallion", "round": round_no, **figures}


# --- the run -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=1000, help="indicators (default 1000)")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    p.add_argument("--readers", type=int, default=8, help="concurrent first-page readers")
    p.add_argument("--requests", type=int, default=400, help="first-page requests")
    p.add_argument(
        "--first-page-seconds",
        type=float,
        default=30.0,
        help="stop the first-page readers after this long (default 30)",
    )
    p.add_argument("--posters", type=int, default=4, help="concurrent posting clients")
    p.add_argument("--batch", type=int, default=100, help="objects per envelope (default 100)")
    p.add_argument("--audiences", action="store_true", help="the TLP mix with audiences")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=900.0, help="per system and round")
    p.add_argument(
        "--venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "exchange-bench-medallion",
        help="medallion's own virtual environment (made on first use)",
    )
    args = p.parse_args(argv)
    if not 1 <= args.objects <= 100_000 or not 1 <= args.rounds <= 10:
        p.error("--objects must be 1..100000 and --rounds 1..10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    script = medallion_venv(args.venv)
    verify_rate = round(bare_verify_rate(), 1)
    rows: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        for run in (exchange_round, medallion_round):
            row = run(args, round_no, script)
            rows.append(row)
            sys.stdout.write(json.dumps(row) + "\n")
            sys.stdout.flush()

    def median(system: str, name: str) -> float | None:
        values = [r[name] for r in rows if r["system"] == system and r[name] is not None]
        return round(statistics.median(values), 1) if values else None

    names = (
        "ingest_objects_per_s",
        "walk_objects_per_s",
        "first_page_requests_per_s",
        "first_page_p99_ms",
    )
    exchange = {n: median("exchange", n) for n in names}
    medallion = {n: median("medallion", n) for n in names}

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    summary = {
        "summary": True,
        "objects": args.objects,
        "rounds": args.rounds,
        "audiences": args.audiences,
        "bare_verify_objects_per_s_one_core": verify_rate,
        "exchange": exchange,
        "medallion": medallion,
        "ingest_vs_medallion": ratio(
            exchange["ingest_objects_per_s"], medallion["ingest_objects_per_s"]
        ),
        "ingest_vs_bare_verify": ratio(exchange["ingest_objects_per_s"], verify_rate),
        "walk_vs_medallion": ratio(exchange["walk_objects_per_s"], medallion["walk_objects_per_s"]),
        "first_page_vs_medallion": ratio(
            exchange["first_page_requests_per_s"], medallion["first_page_requests_per_s"]
        ),
        "machine": machine(),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
