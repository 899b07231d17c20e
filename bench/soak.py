"""Soak: mixed ingest, polling and streaming against one ``exchange serve`` for a while.

    .venv/bin/python bench/soak.py [--seconds 600] [--db URL] [--posters 2] [--pollers 4]
                                   [--streams 4] [--rss-bound-mib 64]

Posters post envelopes of signed indicators, pollers walk ``bulletins`` with ``next``
cursors from where they were, streams follow the event stream; every request that is not a
success, and every exception, is an error. The server's RSS (its own process and the
validation processes) is sampled every two seconds; growth is measured from the end of the
first fifth of the run (after warm-up) to the end. Prints errors, requests, objects, events,
latency p50/p99 per fifth of the run and the RSS figures; exits 1 on any error or on growth
beyond ``--rss-bound-mib``. ``tests/api/test_soak.py`` runs a 30-second version.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Report:
    seconds: float
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    posted: int = 0
    events: int = 0
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (when, bytes)

    def rss_growth(self) -> int:
        start = self.seconds / 5
        later = [b for t, b in self.rss if t >= start]
        return (later[-1] - later[0]) if len(later) >= 2 else 0

    def latency_by_fifth(self) -> list[tuple[float, float]]:
        out = []
        for i in range(5):
            window = sorted(
                s
                for t, s in self.latencies
                if i * self.seconds / 5 <= t < (i + 1) * self.seconds / 5
            )
            if window:
                out.append((statistics.median(window), window[int(0.99 * (len(window) - 1))]))
        return out


def rss_of_tree(pid: int) -> int:
    """RSS in bytes of ``pid`` and its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def soak(
    api_root: str,
    server_pid: int,
    members: list[Any],
    seconds: float,
    posters: int = 2,
    pollers: int = 4,
    streams: int = 4,
) -> Report:
    """Run the mix for ``seconds``; ``members`` have ``.token`` and ``.sign(obj)``."""
    from tests.conftest import indicator

    report = Report(seconds=seconds)
    lock = threading.Lock()
    started = time.monotonic()
    stop = threading.Event()
    headers = {"Accept": TAXII, "Content-Type": TAXII}

    def error(text: str) -> None:
        with lock:
            report.errors.append(f"{time.monotonic() - started:.1f}s {text}")

    def timed(method: str, url: str, token: str, **kw: Any) -> requests.Response | None:
        t0 = time.monotonic()
        try:
            answer = requests.request(
                method,
                url,
                timeout=60,
                headers={**headers, "Authorization": f"Bearer {token}"},
                **kw,
            )
        except requests.RequestException as exc:
            error(f"{method} {url}: {type(exc).__name__}")
            return None
        with lock:
            report.requests += 1
            report.latencies.append((t0 - started, time.monotonic() - t0))
        if answer.status_code >= 400:
            error(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
            return None
        return answer

    def poster(i: int) -> None:
        member = members[i % len(members)]
        while not stop.is_set():
            objects = [member.sign(indicator("green")) for _ in range(10)]
            answer = timed(
                "POST",
                api_root + "collections/bulletins/objects/",
                member.token,
                data=json.dumps({"objects": objects}),
            )
            if answer is not None:
                status = answer.json()
                if status.get("failure_count"):
                    error(f"refused: {status.get('failures')}")
                with lock:
                    report.posted += int(status.get("success_count", 0))
            stop.wait(0.2)

    def poller(i: int) -> None:
        member = members[i % len(members)]
        params: dict[str, str] = {"limit": "100"}
        while not stop.is_set():
            answer = timed(
                "GET", api_root + "collections/bulletins/objects/", member.token, params=params
            )
            if answer is not None:
                body = answer.json()
                if body.get("more"):
                    params = {"limit": "100", "next": body["next"]}
            stop.wait(0.1)

    def streamer(i: int) -> None:
        member = members[i % len(members)]
        last: str | None = None
        while not stop.is_set():
            extra = {"Last-Event-ID": last} if last else {}
            try:
                with requests.get(
                    api_root + "collections/bulletins/events/",
                    stream=True,
                    timeout=30,
                    headers={
                        "Accept": "text/event-stream",
                        "Authorization": f"Bearer {member.token}",
                        **extra,
                    },
                ) as answer:
                    if answer.status_code != 200:
                        error(f"stream: {answer.status_code}")
                        stop.wait(1)
                        continue
                    for line in answer.iter_lines(decode_unicode=True):
                        if stop.is_set():
                            break
                        if line.startswith("id:"):
                            last = line[3:].strip()
                            with lock:
                                report.events += 1
            except requests.RequestException as exc:
                if not stop.is_set():
                    error(f"stream: {type(exc).__name__}")

    def sampler() -> None:
        while not stop.is_set():
            report.rss.append((time.monotonic() - started, rss_of_tree(server_pid)))
            stop.wait(2)

    threads = [
        threading.Thread(target=f, args=(i,), daemon=True)
        for f, n in ((poster, posters), (poller, pollers), (streamer, streams))
        for i in range(n)
    ]
    threads.append(threading.Thread(target=sampler, daemon=True))
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(35)
    report.rss.append((time.monotonic() - started, rss_of_tree(server_pid)))
    return report


@contextmanager
def server(db: str) -> Iterator[Any]:
    from tests.api.test_durability import serve
    from tests.conftest import free_port

    port = free_port()
    with serve(db, port) as proc:
        proc.api_root = f"http://127.0.0.1:{port}/api/v1/"  # type: ignore[attr-defined]
        yield proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--db", default=None)
    parser.add_argument("--posters", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--rss-bound-mib", type=float, default=64)
    args = parser.parse_args()
    from tests.conftest import cli_json, register_member

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        db = args.db or f"sqlite:///{folder / 'exchange.db'}"
        cli_json("admin", "migrate", "--db", db)
        members = [register_member(db, folder, f"soak-{n}") for n in range(2)]
        proc = stack.enter_context(server(db))
        report = soak(
            proc.api_root, proc.pid, members, args.seconds, args.posters, args.pollers, args.streams
        )
    growth = report.rss_growth() / 2**20
    peak = max(b for _, b in report.rss) / 2**20
    print(
        f"seconds {args.seconds:g}, errors {len(report.errors)}, requests {report.requests}, "
        f"objects posted {report.posted}, events streamed {report.events}"
    )
    print(
        "latency p50/p99 ms by fifth: "
        + ", ".join(f"{p50 * 1000:.0f}/{p99 * 1000:.0f}" for p50, p99 in report.latency_by_fifth())
    )
    print(
        f"RSS peak {peak:.0f} MiB, growth after warm-up {growth:.1f} MiB "
        f"(bound {args.rss_bound_mib:g} MiB)"
    )
    for line in report.errors[:20]:
        print("  error:", line)
    return 0 if not report.errors and growth <= args.rss_bound_mib else 1


if __name__ == "__main__":
    sys.exit(main())
