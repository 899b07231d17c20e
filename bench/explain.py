"""Where a first page's time goes: the read query of a member, its SQLite plan and its timing.

    .venv/bin/python bench/explain.py sqlite:////tmp/exchange-bench-XXXX/bench.db \
        [--member NAME ...] [--limit 100] [--repeat 20] [--plan]

Run it on a database a ``bench/load.py --keep`` run left behind. For each member (by name; the
default is every member) and for the anonymous ``public`` view it builds the exact SQL the read
path runs (``exchange.store.query.build_read``), times it on a fresh SQLite connection, and counts
how many ``objects`` rows the scan visited to fill the page. With ``--plan`` it prints
``EXPLAIN QUERY PLAN``. A diagnostic tool: it reads the database directly, never the HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from typing import Any

from exchange.models import ReadQuery
from exchange.policy import ANONYMOUS
from exchange.services.auth import AuthService
from exchange.store.query import build_read
from exchange.store.sqlite import SqliteStore, sqlite_path


async def principals(url: str, names: list[str]) -> list[tuple[str, Any]]:
    store = SqliteStore(url)
    await store.open()
    try:
        auth = AuthService(store)
        out = []
        for m in await store.members.list_members():
            if not names or m.name in names:
                out.append((m.name, await auth.for_member(m.id)))
        return out
    finally:
        await store.close()


def run(conn: sqlite3.Connection, sql: str, params: list[object], repeat: int) -> tuple[float, int]:
    times = []
    rows = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = len(conn.execute(sql, params).fetchall())
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], rows


def scanned(conn: sqlite3.Connection, sql: str, params: list[object]) -> int:
    """Rows of ``objects`` the scan passed to fill the page: up to the last seq returned."""
    rows = conn.execute(sql, params).fetchall()
    if not rows:
        return int(conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0])
    last = rows[-1][0]
    return int(conn.execute("SELECT COUNT(*) FROM objects WHERE seq <= ?", (last,)).fetchone()[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="sqlite:////abs/path.db")
    p.add_argument("--member", action="append", default=[], help="member name (repeatable)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--after", type=int, default=0, help="after_seq (a next cursor's position)")
    p.add_argument("--plan", action="store_true", help="print EXPLAIN QUERY PLAN")
    p.add_argument("--sql", action="store_true", help="print the SQL")
    args = p.parse_args()
    readers = asyncio.run(principals(args.db, args.member))
    readers.append(("(anonymous, public)", ANONYMOUS))
    conn = sqlite3.connect(f"file:{sqlite_path(args.db)}?mode=ro", uri=True)
    total = conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
    print(f"{total} stored objects; limit {args.limit}, median of {args.repeat} runs")
    for name, reader in readers:
        collection = "public" if reader is ANONYMOUS else "bulletins"
        sql = build_read(
            reader,
            ReadQuery(collection=collection, after_seq=args.after, limit=args.limit),
            with_body=True,
        )
        if args.sql:
            print(sql.text, sql.params)
        median, rows = run(conn, sql.text, sql.params, args.repeat)
        seen = scanned(conn, sql.text, sql.params)
        print(
            f"{name:22} {median * 1000:8.2f} ms  {rows:5d} rows  {seen:6d} scanned  "
            f"{median * 1e6 / max(seen, 1):7.1f} us/scanned row  tokens={sorted(reader.matches)}"
        )
        if args.plan:
            for row in conn.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params):
                print("   ", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
