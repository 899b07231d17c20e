"""Load test of a running exchange, through its public HTTP API only (set-up through the admin CLI).

    .venv/bin/python bench/load.py --objects 10000 [--db URL] [--workers N] [--readers 16]
                                   [--signed] [--audiences]

It makes a fresh database (a SQLite file in a temporary folder, or ``bench_<random>`` on the
PostgreSQL server of a ``postgresql://`` --db, dropped afterwards), starts ``exchange serve`` on a
free loopback port, registers members, tokens and a signing key with ``exchange admin … --json``,
pre-signs the objects, and measures:

- ingest: objects/s of signed indicators POSTed in envelopes of --batch objects by --posters
  concurrent clients (after the audience markings, which must be stored first);
- full walk: objects/s paging through ``/objects/?limit=1000`` with ``next``, for the publisher
  (every stored object is readable to it: the unfiltered view) and for a member whose view the
  sharing rules filter;
- first page: p50/p99 latency of ``/objects/?limit=100`` under --readers concurrent readers, for the
  same two readers and for the anonymous ``public`` collection (TLP:CLEAR only);
- RSS: resident memory summed over the server's process tree (/proc), idle, after ingest, peak.

It prints a JSON summary on stdout and a markdown table row on stderr (and with --markdown FILE,
appends the row there). Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BenchMember,
    RssSampler,
    Server,
    add_group,
    add_member,
    admin,
    audience_marking,
    collection_id,
    cpu_seconds,
    envelope,
    fresh_database,
    headers,
    indicator,
    log,
    machine,
    mib,
    percentile,
    raise_nofile,
    sign_encode,
    stamp,
    workdir,
)

# TLP mix of the indicators. With --audiences most of them are AMBER (and some AMBER+STRICT
# and RED) with an audience marking, so what a member reads depends on who it is.
MIX_PLAIN = {"clear": 0.25, "green": 0.75}
MIX_AUDIENCES = {"clear": 0.10, "green": 0.30, "amber": 0.45, "amber+strict": 0.10, "red": 0.05}
AUDIENCE_MARKINGS = 40


# --- set-up ------------------------------------------------------------------------------------


def setup_members(db_url: str, wd: Path, posters: int) -> dict[str, Any]:
    """A publishing CERT, four other members and two sharing groups."""
    started = time.monotonic()
    cert, poster_tokens = add_member(
        db_url, "CERT-A", "government", "government", "DE", wd, tokens=posters, key=True
    )
    bank, _ = add_member(db_url, "Bank-B", "private", "financial-services", "FR", wd)
    energy, _ = add_member(db_url, "Energy-C", "private", "energy", "NL", wd)
    agency, _ = add_member(db_url, "Agency-D", "government", "defense", "DE", wd)
    telco, _ = add_member(db_url, "Telco-E", "private", "telecommunications", "IT", wd)
    add_group(db_url, "fin-isac", [bank, cert])
    add_group(db_url, "energy-isac", [energy, agency])
    log(f"set-up through the admin CLI in {time.monotonic() - started:.1f}s")
    return {
        "publisher": cert,
        "poster_tokens": poster_tokens,
        "bank": bank,
        "energy": energy,
        "agency": agency,
        "filtered": telco,
        "members": [cert, bank, energy, agency, telco],
    }


def audience_pool(m: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Entries an AMBER audience draws from, and member-only audiences for RED."""
    entries = [
        "group:fin-isac",
        "group:energy-isac",
        "sector:financial-services",
        "sector:energy",
        "sector:defense",
        "sector:telecommunications",
        "economy:DE",
        "economy:FR",
        "economy:NL",
        "economy:IT",
        "kind:government",
        f"member:{m['bank'].identity}",
        f"member:{m['energy'].identity}",
        f"member:{m['agency'].identity}",
    ]
    red = [
        [f"member:{m['bank'].identity}"],
        [f"member:{m['agency'].identity}"],
        [f"member:{m['energy'].identity}", f"member:{m['agency'].identity}"],
        [f"member:{m['filtered'].identity}"],
    ]
    return entries, red


def make_objects(
    count: int, m: dict[str, Any], audiences: bool, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(audience markings, indicators, how many of the indicators each reader may read)."""
    rng = random.Random(seed)
    author = m["publisher"].identity
    markings: list[dict[str, Any]] = []
    amber_pool: list[tuple[str, list[str]]] = []
    red_pool: list[tuple[str, list[str]]] = []
    if audiences:
        entries, red = audience_pool(m)
        for _ in range(AUDIENCE_MARKINGS):
            chosen = rng.sample(entries, rng.choice((1, 1, 2, 2, 3)))
            mk = audience_marking(author, chosen)
            markings.append(mk)
            amber_pool.append((mk["id"], chosen))
        for chosen in red:
            mk = audience_marking(author, chosen)
            markings.append(mk)
            red_pool.append((mk["id"], chosen))
    mix = MIX_AUDIENCES if audiences else MIX_PLAIN
    names, weights = list(mix), list(mix.values())
    readers: list[BenchMember] = [m["bank"], m["energy"], m["agency"], m["filtered"]]
    visible = {r.name: 0 for r in readers}
    visible["public"] = 0
    when = stamp()
    objects = []
    for n in range(count):
        tlp = rng.choices(names, weights)[0]
        extra: list[str] = []
        audience: list[str] | None = None
        if tlp in ("amber", "amber+strict"):
            mid, audience = rng.choice(amber_pool)
            extra = [mid]
        elif tlp == "red":
            mid, audience = rng.choice(red_pool)
            extra = [mid]
        objects.append(indicator(author, tlp, extra, n=n, when=when))
        for r in readers:
            if audience is None or any(r.matches(e) for e in audience):
                visible[r.name] += 1
        visible["public"] += tlp == "clear"
    return markings, objects, visible


def presign(pem: bytes, objects: list[dict[str, Any]], chunk: int = 2000) -> list[bytes]:
    """Sign and encode every object, on every core, before the clock starts."""
    parts = [(pem, objects[i : i + chunk]) for i in range(0, len(objects), chunk)]
    with ProcessPoolExecutor() as pool:
        return [b for part in pool.map(sign_encode, parts) for b in part]


# --- measurements ------------------------------------------------------------------------------


async def post_envelope(
    session: aiohttp.ClientSession, url: str, token: str, body: bytes
) -> dict[str, Any]:
    async with session.post(url, data=body, headers=headers(token, post=True)) as r:
        text = await r.read()
        if r.status != 202:
            raise SystemExit(f"bench: POST answered {r.status}: {text[:500]!r}")
        value = orjson.loads(text)
        assert isinstance(value, dict)
        return value


async def ingest(
    api: str,
    coll: str,
    tokens: list[str],
    markings: list[bytes],
    encoded: list[bytes],
    batch: int,
    posters: int,
    deadline: float,
) -> dict[str, Any]:
    url = f"{api}collections/{coll}/objects/"
    timeout = aiohttp.ClientTimeout(total=600)
    stored = failed = 0
    failures: list[str] = []
    latencies: list[float] = []
    # A new connection per envelope: with ``--workers N`` the kernel (SO_REUSEPORT) picks a
    # worker per connection, so a few keep-alive connections could all land on one worker.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        if markings:
            status = await post_envelope(session, url, tokens[0], envelope(markings))
            if status.get("failure_count"):
                raise SystemExit(f"bench: audience markings refused: {status.get('failures')}")
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for i in range(0, len(encoded), batch):
            queue.put_nowait(envelope(encoded[i : i + batch]))

        async def poster(token: str) -> None:
            nonlocal stored, failed
            while not queue.empty() and time.monotonic() < deadline:
                body = queue.get_nowait()
                started = time.monotonic()
                status = await post_envelope(session, url, token, body)
                latencies.append(time.monotonic() - started)
                stored += int(status.get("success_count", 0))
                failed += int(status.get("failure_count", 0))
                for f in status.get("failures", [])[:3]:
                    if len(failures) < 5:
                        failures.append(f"{f.get('id')}: {f.get('message')}")

        started = time.monotonic()
        await asyncio.gather(*(poster(tokens[i % len(tokens)]) for i in range(posters)))
        seconds = time.monotonic() - started
    return {
        "objects": len(encoded),
        "stored": stored,
        "refused": failed,
        "refusals": failures,
        "seconds": round(seconds, 2),
        "objects_per_s": round(stored / seconds, 1) if seconds else None,
        "envelope_p50_s": round(percentile(latencies, 50), 3),
        "envelope_p99_s": round(percentile(latencies, 99), 3),
        "complete": queue.empty(),
    }


async def walk(
    api: str, coll: str, token: str | None, limit: int, max_pages: int, deadline: float
) -> dict[str, Any]:
    url = f"{api}collections/{coll}/objects/"
    count = pages = 0
    page_times: list[float] = []
    cursor: str | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        started = time.monotonic()
        while pages < max_pages and time.monotonic() < deadline:
            params: dict[str, str] = {"limit": str(limit)}
            if cursor:
                params["next"] = cursor
            t0 = time.monotonic()
            async with session.get(url, params=params, headers=headers(token)) as r:
                raw = await r.read()
                if r.status != 200:
                    raise SystemExit(f"bench: walk answered {r.status}: {raw[:300]!r}")
            page_times.append(time.monotonic() - t0)
            body = orjson.loads(raw)
            pages += 1
            count += len(body.get("objects", []))
            cursor = body.get("next")
            if not body.get("more") or not cursor:
                break
        seconds = time.monotonic() - started
    return {
        "objects": count,
        "pages": pages,
        "seconds": round(seconds, 2),
        "objects_per_s": round(count / seconds, 1) if seconds else None,
        "page_p50_ms": round(percentile(page_times, 50) * 1000, 1),
        "page_max_ms": round(max(page_times) * 1000, 1) if page_times else None,
    }


async def first_pages(
    api: str, coll: str, token: str | None, readers: int, requests: int, deadline: float
) -> dict[str, Any]:
    url = f"{api}collections/{coll}/objects/"
    latencies: list[float] = []
    errors = 0
    remaining = requests
    connector = aiohttp.TCPConnector(limit=readers)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        async with session.get(url, params={"limit": "100"}, headers=headers(token)) as r:
            await r.read()  # warm-up: one request outside the figures

        async def reader() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                t0 = time.monotonic()
                async with session.get(url, params={"limit": "100"}, headers=headers(token)) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.monotonic() - t0)

        started = time.monotonic()
        await asyncio.gather(*(reader() for _ in range(readers)))
        seconds = time.monotonic() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "requests_per_s": round(len(latencies) / seconds, 1) if seconds else None,
    }


# --- the run -----------------------------------------------------------------------------------


async def measure(
    server: Server,
    m: dict[str, Any],
    markings: list[bytes],
    encoded: list[bytes],
    args: argparse.Namespace,
    deadline: float,
) -> dict[str, Any]:
    sampler = RssSampler(server.pid)
    idle = sampler.sample()
    sampler.start()
    publisher: BenchMember = m["publisher"]
    filtered: BenchMember = m["filtered"]
    async with aiohttp.ClientSession() as session:
        bulletins = await collection_id(session, server.api, publisher.token, "bulletins")
        public = await collection_id(session, server.api, "", "public")
    log(f"ingest: {len(encoded)} objects in envelopes of {args.batch}, {args.posters} posters")
    cpu_before = cpu_seconds(server.pid)
    result: dict[str, Any] = {
        "ingest": await ingest(
            server.api,
            bulletins,
            m["poster_tokens"],
            markings,
            encoded,
            args.batch,
            args.posters,
            deadline,
        )
    }
    # The machine may be shared: server CPU per object does not depend on what else runs.
    cpu = cpu_seconds(server.pid) - cpu_before
    stored = result["ingest"]["stored"]
    result["ingest"]["server_cpu_s"] = round(cpu, 1)
    result["ingest"]["server_cpu_ms_per_object"] = round(cpu * 1000 / stored, 2) if stored else None
    after_ingest = sampler.sample()
    log(
        f"ingest: {result['ingest']['objects_per_s']} objects/s "
        f"({result['ingest']['stored']} stored, {result['ingest']['refused']} refused)"
    )
    max_pages = len(encoded) // 1000 + 20
    result["walk"] = {}
    for name, who, coll in (
        ("unfiltered", publisher.token, bulletins),
        ("filtered", filtered.token, bulletins),
    ):
        log(f"walk: {name}")
        result["walk"][name] = await walk(server.api, coll, who, 1000, max_pages, deadline)
        log(
            f"walk {name}: {result['walk'][name]['objects_per_s']} objects/s "
            f"({result['walk'][name]['objects']} objects)"
        )
    result["first_page"] = {}
    for name, who, coll in (
        ("unfiltered", publisher.token, bulletins),
        ("filtered", filtered.token, bulletins),
        ("public", None, public),
    ):
        log(f"first page: {name}, {args.readers} readers, {args.requests} requests")
        result["first_page"][name] = await first_pages(
            server.api, coll, who, args.readers, args.requests, deadline
        )
        fp = result["first_page"][name]
        log(f"first page {name}: p50 {fp['p50_ms']} ms, p99 {fp['p99_ms']} ms")
    await sampler.stop()
    result["rss_mib"] = {
        "idle": mib(idle),
        "after_ingest": mib(after_ingest),
        "end": mib(sampler.last),
        "peak": mib(sampler.peak),
    }
    return result


def markdown_row(summary: dict[str, Any]) -> str:
    c, r = summary["config"], summary["results"]
    fp, wk = r["first_page"], r["walk"]
    ratio = (
        fp["filtered"]["p50_ms"] / fp["unfiltered"]["p50_ms"]
        if fp["unfiltered"]["p50_ms"]
        else float("nan")
    )
    cells = [
        c["store"],
        str(c["workers"]),
        f"{c['objects']:,}",
        "yes" if c["audiences"] else "no",
        f"{r['ingest']['objects_per_s']}",
        f"{wk['unfiltered']['objects_per_s']}",
        f"{wk['filtered']['objects_per_s']}",
        f"{fp['unfiltered']['p50_ms']} / {fp['unfiltered']['p99_ms']}",
        f"{fp['filtered']['p50_ms']} / {fp['filtered']['p99_ms']} (x{ratio:.1f})",
        f"{fp['public']['p50_ms']} / {fp['public']['p99_ms']}",
        f"{r['rss_mib']['peak']}",
    ]
    return "| " + " | ".join(cells) + " |"


MARKDOWN_HEADER = (
    "| store | workers | objects | audiences | ingest obj/s | walk obj/s unfiltered | "
    "walk obj/s filtered | first page p50/p99 ms unfiltered | filtered (p50 ratio) | "
    "public | server RSS peak MiB |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=10_000, help="indicators to post (default 10000)")
    p.add_argument(
        "--db",
        help="postgresql://user@127.0.0.1:5432/db to run on a fresh database "
        "created on that server; default: a SQLite file in a temp folder",
    )
    p.add_argument("--workers", type=int, default=1, help="exchange serve --workers (default 1)")
    p.add_argument("--readers", type=int, default=16, help="concurrent first-page readers")
    p.add_argument("--requests", type=int, default=320, help="first-page requests per reader kind")
    p.add_argument("--posters", type=int, default=4, help="concurrent posting clients")
    p.add_argument("--batch", type=int, default=500, help="objects per envelope (default 500)")
    p.add_argument(
        "--signed",
        action="store_true",
        help="sign every object (the exchange refuses unsigned ones in bulletins, so "
        "objects are always signed; the flag is kept for the documented command)",
    )
    p.add_argument(
        "--audiences",
        action="store_true",
        help="mostly AMBER objects with audience markings, so the sharing filter matters",
    )
    p.add_argument(
        "--pg-jit",
        choices=["default", "on", "off"],
        default="default",
        help="PostgreSQL only: ALTER DATABASE … SET jit on the fresh database "
        "(default: leave the server's setting)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--max-seconds",
        type=float,
        default=1500.0,
        help="stop measuring after this long (default 1500)",
    )
    p.add_argument("--markdown", help="append the markdown row to this file")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (server log, SQLite file) and the PostgreSQL database",
    )
    args = p.parse_args(argv)
    if not 1 <= args.objects <= 1_000_000:
        p.error("--objects must be between 1 and 1,000,000")
    if not 1 <= args.readers <= 256 or not 1 <= args.posters <= 64:
        p.error("--readers must be 1..256 and --posters 1..64")
    if not 1 <= args.requests <= 100_000 or not 1 <= args.batch <= 5000:
        p.error("--requests must be 1..100000 and --batch 1..5000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile(4096)
    pg_settings = {"jit": args.pg_jit} if args.pg_jit != "default" else {}
    started = time.monotonic()
    host = machine()
    with workdir(args.keep) as wd, fresh_database(args.db, wd, args.keep, pg_settings) as db:
        admin(db.url, "migrate")
        m = setup_members(db.url, wd, args.posters)
        publisher: BenchMember = m["publisher"]
        assert publisher.key is not None
        marking_objs, objects, visible = make_objects(args.objects, m, args.audiences, args.seed)
        t0 = time.monotonic()
        pem = publisher.key.private_pem()
        markings = presign(pem, marking_objs) if marking_objs else []
        encoded = presign(pem, objects)
        log(f"signed {len(encoded) + len(markings)} objects in {time.monotonic() - t0:.1f}s")
        server = Server(db.url, args.workers, wd)
        server.start()
        log(
            f"exchange serving on {server.base} (pid {server.pid}, {args.workers} worker(s), "
            f"{db.kind})"
        )
        try:
            deadline = time.monotonic() + args.max_seconds
            results = asyncio.run(measure(server, m, markings, encoded, args, deadline))
        finally:
            server.stop()
    summary = {
        "config": {
            "store": db.kind,
            "workers": args.workers,
            "objects": args.objects,
            "audiences": args.audiences,
            "signed": True,
            "readers": args.readers,
            "requests": args.requests,
            "posters": args.posters,
            "batch": args.batch,
            "audience_markings": len(markings),
            "pg_jit": args.pg_jit,
        },
        "machine": {**host, "loadavg_at_end": machine().get("loadavg")},
        "expected_visible": {
            "unfiltered": args.objects,
            "filtered": visible[m["filtered"].name],
            "public": visible["public"],
        },
        "results": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    row = markdown_row(summary)
    sys.stderr.write(MARKDOWN_HEADER + "\n" + row + "\n")
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as out:
            out.write(row + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
