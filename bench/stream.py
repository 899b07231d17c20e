"""Push latency: N concurrent SSE subscribers on ``GET /api/v1/collections/{id}/events/``.

    .venv/bin/python bench/stream.py [--subscribers 1000] [--rate 2] [--duration 30]
                                     [--db URL] [--workers N] [--members 10]

Starts ``exchange serve`` on a fresh database (as bench/load.py does), registers a publisher and
--members reading members through the admin CLI, opens --subscribers event streams (spread over
the members' tokens; ``Accept: text/event-stream``), then posts one signed TLP:GREEN indicator at a
time, --rate a second for --duration seconds. Each object carries its send time in
``description`` (``bench-sent-at=<unix time>``, stamped just before the POST), so each subscriber
measures delivery latency from the POST to the event's arrival. Every member may read GREEN, so
every subscriber should receive every object exactly once.

Contract (interface.md, "Push: a resumable stream"): ``text/event-stream``, one event per object,
``id:`` a resumable cursor, ``data:`` the object's JSON (possibly on several ``data:`` lines,
joined with ``\\n``); ``event: resume`` ends a stream and the client reconnects with
``Last-Event-ID`` (counted as a reconnect).

Reports delivery latency p50/p99/max over all (subscriber, object) pairs, how many were delivered,
missing or duplicated, reconnects, connect time, and server RSS (summed over its process tree from
/proc) idle, with every subscriber connected, and at its peak. It raises RLIMIT_NOFILE up to the hard
limit (the server, started from here, inherits it). All traffic goes to 127.0.0.1; every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BenchMember,
    RssSampler,
    Server,
    add_member,
    admin,
    collection_id,
    encode,
    envelope,
    fresh_database,
    headers,
    indicator,
    log,
    machine,
    mib,
    percentile,
    raise_nofile,
    workdir,
)

from exchange.crypto import sign_object

EVENT_STREAM = "text/event-stream"
SENT_PREFIX = "bench-sent-at="
SECTORS = [
    "financial-services",
    "energy",
    "telecommunications",
    "healthcare",
    "transportation",
    "water",
    "defense",
]
ECONOMIES = ["FR", "DE", "NL", "IT", "ES", "BE", "AT", "PL", "SE", "FI"]


class Subscriber:
    """One event stream: parses SSE, records (object id → latency), reconnects on resume."""

    def __init__(self, index: int, url: str, token: str) -> None:
        self.index = index
        self.url = url
        self.token = token
        self.last_id: str | None = None
        self.connected = asyncio.Event()
        self.received: dict[str, float] = {}
        self.duplicates = 0
        self.reconnects = 0
        self.errors: list[str] = []
        self.connect_seconds: float | None = None

    async def run(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, max_reconnects: int
    ) -> None:
        attempts = 0
        while not stop.is_set() and attempts <= max_reconnects:
            attempts += 1
            hdrs = {"Accept": EVENT_STREAM, "Authorization": f"Bearer {self.token}"}
            if self.last_id is not None:
                hdrs["Last-Event-ID"] = self.last_id
            started = time.monotonic()
            try:
                async with session.get(self.url, headers=hdrs) as r:
                    if r.status != 200:
                        self.errors.append(f"HTTP {r.status}: {(await r.text())[:200]}")
                        await asyncio.sleep(1.0)
                        continue
                    if not r.headers.get("Content-Type", "").startswith(EVENT_STREAM):
                        self.errors.append(f"Content-Type {r.headers.get('Content-Type')}")
                        return
                    resumed = await self._read(r, stop, started)
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                if stop.is_set():
                    return
                self.errors.append(f"{type(exc).__name__}: {exc}")
                resumed = True
                await asyncio.sleep(0.5)
            if not resumed:
                return
            self.reconnects += 1

    async def _read(self, r: aiohttp.ClientResponse, stop: asyncio.Event, started: float) -> bool:
        """Read events until the stream ends; True when the server asked to resume."""
        event, data, block_id = "message", [], None
        while not stop.is_set():
            raw = await r.content.readline()
            if not raw:
                return True  # the server closed the stream: reconnect and resume
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if block_id is not None:
                    self.last_id = block_id
                if not self.connected.is_set():
                    self.connect_seconds = time.monotonic() - started
                    self.connected.set()
                if data and event == "message":
                    self._deliver("\n".join(data))
                elif event == "resume":
                    return True
                event, data, block_id = "message", [], None
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "id":
                block_id = value
            elif name == "event":
                event = value
        return False

    def _deliver(self, text: str) -> None:
        now = time.time()
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.errors.append("an event's data is not JSON")
            return
        description = obj.get("description", "") if isinstance(obj, dict) else ""
        if not isinstance(description, str) or not description.startswith(SENT_PREFIX):
            return  # not one of ours (e.g. objects the exchange itself made)
        stix_id = obj["id"]
        if stix_id in self.received:
            self.duplicates += 1
            return
        self.received[stix_id] = now - float(description[len(SENT_PREFIX) :].split()[0])


async def post_one(
    session: aiohttp.ClientSession, url: str, publisher: BenchMember, n: int
) -> tuple[str, bool]:
    assert publisher.key is not None
    obj = indicator(
        publisher.identity, "green", n=n, description=f"{SENT_PREFIX}{time.time():.6f} (object {n})"
    )
    body = envelope([encode(sign_object(obj, publisher.key))])
    async with session.post(url, data=body, headers=headers(publisher.token, post=True)) as r:
        status = await r.json(content_type=None)
    return obj["id"], r.status == 202 and status.get("success_count") == 1


async def measure(
    server: Server, publisher: BenchMember, tokens: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    sampler = RssSampler(server.pid)
    idle = sampler.sample()
    sampler.start()
    async with aiohttp.ClientSession() as session:
        coll = await collection_id(session, server.api, publisher.token, "bulletins")
    events_url = f"{server.api}collections/{coll}/events/"
    objects_url = f"{server.api}collections/{coll}/objects/"
    # Warm up: one envelope large enough to start every validation process of the server (they
    # start, and import stix2-validator, on first use), posted before any subscriber connects.
    assert publisher.key is not None
    warm = [
        encode(
            sign_object(
                indicator(publisher.identity, "green", n=i, description="bench warm-up"),
                publisher.key,
            )
        )
        for i in range(args.warm_up)
    ]
    if warm:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                objects_url, data=envelope(warm), headers=headers(publisher.token, post=True)
            ) as r,
        ):
            await r.read()
        log(f"warm-up: {len(warm)} objects posted (HTTP {r.status})")
    idle = sampler.sample()
    subs = [Subscriber(i, events_url, tokens[i % len(tokens)]) for i in range(args.subscribers)]
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=None)
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Connect gradually (a burst of 1000 connects is a different benchmark).
        tasks = []
        t0 = time.monotonic()
        for i, s in enumerate(subs):
            tasks.append(asyncio.create_task(s.run(session, stop, args.max_reconnects)))
            if i % args.connect_batch == args.connect_batch - 1:
                await asyncio.sleep(0.05)
        connect_deadline = time.monotonic() + args.connect_timeout
        while time.monotonic() < connect_deadline:
            ready = sum(s.connected.is_set() for s in subs)
            if ready == len(subs):
                break
            await asyncio.sleep(0.2)
        ready = sum(s.connected.is_set() for s in subs)
        connect_all = time.monotonic() - t0
        log(f"{ready}/{len(subs)} subscribers connected in {connect_all:.1f}s")
        if ready == 0:
            errors = sorted({e for s in subs for e in s.errors})[:5]
            stop.set()
            for t in tasks:
                t.cancel()
            raise SystemExit(f"bench: no subscriber could connect to {events_url}: {errors}")
        await asyncio.sleep(1.0)
        connected_rss = sampler.sample()

        posted: list[str] = []
        failed_posts = 0
        post_latency: list[float] = []
        count = max(1, int(args.rate * args.duration))
        interval = 1.0 / args.rate
        log(f"posting {count} objects, {args.rate}/s")
        async with aiohttp.ClientSession() as poster:
            start = time.monotonic()
            give_up = start + 3 * args.duration + 60  # bounded even when POSTs crawl
            for n in range(count):
                if time.monotonic() > give_up:
                    log(f"posting stopped after {n} objects: the exchange is too slow")
                    break
                due = start + n * interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                t_post = time.monotonic()
                stix_id, ok = await post_one(poster, objects_url, publisher, n)
                post_latency.append(time.monotonic() - t_post)
                if ok:
                    posted.append(stix_id)
                else:
                    failed_posts += 1
        # Wait for the deliveries to arrive (bounded).
        want = set(posted)
        drain_deadline = time.monotonic() + args.drain
        while time.monotonic() < drain_deadline:
            if all(want <= s.received.keys() for s in subs if s.connected.is_set()):
                break
            await asyncio.sleep(0.25)
        stop.set()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    await sampler.stop()

    latencies = [lat for s in subs for sid, lat in s.received.items() if sid in want]
    expected = len(want) * ready
    result = {
        "subscribers": len(subs),
        "connected": ready,
        "connect_all_s": round(connect_all, 2),
        "connect_p50_ms": round(
            percentile([s.connect_seconds for s in subs if s.connect_seconds is not None], 50)
            * 1000,
            1,
        ),
        "posted": len(posted),
        "failed_posts": failed_posts,
        "post_p50_ms": round(percentile(post_latency, 50) * 1000, 1),
        "post_p99_ms": round(percentile(post_latency, 99) * 1000, 1),
        "deliveries_expected": expected,
        "delivered": len(latencies),
        "missing": expected - len(latencies),
        "duplicates": sum(s.duplicates for s in subs),
        "reconnects": sum(s.reconnects for s in subs),
        "errors": sorted({e for s in subs for e in s.errors})[:5],
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "rss_mib": {"idle": mib(idle), "connected": mib(connected_rss), "peak": mib(sampler.peak)},
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--rate", type=float, default=2.0, help="objects posted per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of posting")
    p.add_argument(
        "--members",
        type=int,
        default=10,
        help="reading members (tokens) to spread the subscribers over",
    )
    p.add_argument("--db", help="postgresql://… on 127.0.0.1 (fresh database), else SQLite")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--connect-batch", type=int, default=50, help="connects per 50 ms")
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--drain", type=float, default=60.0, help="seconds to wait for deliveries")
    p.add_argument("--max-reconnects", type=int, default=20, help="per subscriber")
    p.add_argument(
        "--warm-up",
        type=int,
        default=256,
        help="objects posted (in one envelope) before subscribers connect",
    )
    p.add_argument("--markdown", help="append the markdown row to this file")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    if not 0 <= args.warm_up <= 5000:
        p.error("--warm-up must be 0..5000")
    if not 1 <= args.subscribers <= 10_000:
        p.error("--subscribers must be 1..10000")
    if not 0 < args.rate <= 100 or not 0 < args.duration <= 600:
        p.error("--rate must be in (0, 100] and --duration in (0, 600]")
    if not 1 <= args.members <= 100:
        p.error("--members must be 1..100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = raise_nofile(1 << 20)
    need = args.subscribers + 200
    if soft < need:
        raise SystemExit(
            f"bench: open-files limit {soft} (hard {hard}) is below the "
            f"{need} that {args.subscribers} subscribers need"
        )
    started = time.monotonic()
    host = machine()
    with workdir(args.keep) as wd, fresh_database(args.db, wd, args.keep) as db:
        admin(db.url, "migrate")
        publisher, _ = add_member(db.url, "CERT-A", "government", "government", "DE", wd, key=True)
        tokens = []
        for i in range(args.members):
            _reader, issued = add_member(
                db.url,
                f"Reader-{i}",
                "private",
                SECTORS[i % len(SECTORS)],
                ECONOMIES[i % len(ECONOMIES)],
                wd,
            )
            tokens.extend(issued)
        log(f"set-up: publisher and {args.members} reading members")
        server = Server(db.url, args.workers, wd)
        server.start()
        log(f"exchange serving on {server.base} (pid {server.pid}, nofile {soft})")
        try:
            results = asyncio.run(measure(server, publisher, tokens, args))
        finally:
            server.stop()
    summary = {
        "config": {
            "store": db.kind,
            "workers": args.workers,
            "subscribers": args.subscribers,
            "rate": args.rate,
            "duration": args.duration,
            "members": args.members,
            "nofile": soft,
        },
        "machine": {**host, "loadavg_at_end": machine().get("loadavg")},
        "results": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    r = results
    row = (
        f"| {db.kind} | {args.workers} | {r['connected']}/{args.subscribers} | {args.rate}/s for "
        f"{args.duration:g}s | {r['latency_p50_ms']} / {r['latency_p99_ms']} | "
        f"{r['delivered']}/{r['deliveries_expected']} | {r['duplicates']} | {r['reconnects']} | "
        f"{r['rss_mib']['idle']} / {r['rss_mib']['connected']} / {r['rss_mib']['peak']} |"
    )
    sys.stderr.write(
        "| store | workers | subscribers | posts | latency p50/p99 ms | delivered | duplicates | "
        "reconnects | RSS idle/connected/peak MiB |\n|---|---|---|---|---|---|---|---|---|\n"
        + row
        + "\n"
    )
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as out:
            out.write(row + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
