"""Fuzz the exchange for a long time: the long version of tests/unit/test_fuzz_targets.py and
tests/api/test_fuzz_http.py.

    .venv/bin/python bench/fuzz.py [--targets all|envelope,jcs,...] [--seconds 300]
                                   [--engine auto|atheris|hypothesis] [--out DIR]

In-process targets (tests/fuzz_targets.py): ``envelope`` (the envelope parser), ``strictjson``,
``jcs`` (RFC 8785), ``signature`` (signature checks), ``filters`` (TAXII filters and limit),
``cursors`` (``next`` cursors and event ids). Each runs in a process of its own under
atheris (coverage-guided, libFuzzer; ``pip install -e '.[fuzz]'``) when it is installed,
else under hypothesis, for ``--seconds``. Over HTTP, against a live exchange on 127.0.0.1
(seeded random inputs): ``http`` (hostile bodies with Content-Length, chunked, over
max_content_length, and beside a valid signed object that must be stored) and ``stream``
(event streams opened with hostile ``Last-Event-ID`` bytes).

Prints one line per target: inputs tried, failures (an exception other than the target's
domain errors, or a broken property), and for HTTP 500s, hangs and objects lost. The first
failing inputs of each target are written to ``--out``. Exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IN_PROCESS = ["envelope", "strictjson", "jcs", "signature", "filters", "cursors"]
OVER_HTTP = ["http", "stream"]
KEEP_FAILURES = 20


# --- bookkeeping shared by the engines -------------------------------------------------------


class Tally:
    """Inputs and failures of one target, written to a JSON report as it goes."""

    def __init__(self, target: str, engine: str, report: Path, out: Path) -> None:
        self.counts: dict[str, Any] = {"target": target, "engine": engine, "inputs": 0}
        self.counts.update({"failures": 0, "500s": 0, "hangs": 0, "objects_lost": 0})
        self.report = report
        self.out = out
        self.started = time.monotonic()
        self.written = 0.0

    def tried(self) -> None:
        self.counts["inputs"] += 1
        now = time.monotonic()
        if now - self.written > 0.5:
            self.write()

    def failed(self, data: bytes, why: str, kind: str = "failures") -> None:
        self.counts[kind] += 1
        if kind != "failures":
            self.counts["failures"] += 1
        if self.counts["failures"] <= KEEP_FAILURES:
            self.out.mkdir(parents=True, exist_ok=True)
            name = f"{self.counts['target']}-{self.counts['failures']}"
            (self.out / f"{name}.bin").write_bytes(data)
            (self.out / f"{name}.txt").write_text(why[:4000] + "\n", "utf-8")

    def write(self) -> None:
        self.written = time.monotonic()
        self.counts["seconds"] = round(self.written - self.started, 1)
        self.report.write_text(json.dumps(self.counts), "utf-8")


def seeds() -> list[bytes]:
    """One input per shape and placement of hostile_document, to start from."""
    return [bytes([shape, where, 1, 0, 0, 7]) for shape in range(10) for where in range(3)]


# --- in-process targets: atheris ---------------------------------------------------------------


def run_atheris(target_name: str, seconds: int, tally: Tally) -> None:
    import atheris

    with atheris.instrument_imports(include=["exchange", "rfc8785", "tests.fuzz_targets"]):
        from tests.fuzz_targets import TARGETS
    target = TARGETS[target_name]

    def one_input(data: bytes) -> None:
        tally.tried()
        try:
            target(data)
        except Exception as exc:  # a failure: counted and kept, and the fuzzing goes on
            tally.failed(data, f"{type(exc).__name__}: {exc}")

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target_name}-"))
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={seconds}",
            "-timeout=30",  # one input running 30 s is a hang: libFuzzer stops and says so
            "-rss_limit_mb=3072",
            "-max_len=4096",
            "-print_final_stats=1",
            str(corpus),
        ],
        one_input,
    )
    atheris.Fuzz()


# --- in-process targets: hypothesis ----------------------------------------------------------


def run_hypothesis(target_name: str, seconds: int, tally: Tally) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz_targets import TARGETS

    target = TARGETS[target_name]
    steered = st.builds(
        lambda shape, where, rest: bytes([shape, where]) + rest,
        st.integers(0, 9),
        st.integers(0, 2),
        st.binary(max_size=256),
    )
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(steered | st.binary(max_size=512))
    def one_input(data: bytes) -> None:
        if time.monotonic() > deadline:
            return
        tally.tried()
        try:
            target(data)
        except Exception as exc:
            tally.failed(data, f"{type(exc).__name__}: {exc}")

    while time.monotonic() < deadline:
        one_input()


# --- over HTTP -----------------------------------------------------------------------------------


def run_http(target_name: str, seconds: int, tally: Tally, seed: int) -> None:
    import requests

    from exchange.config import Settings
    from tests.conftest import TAXII, LiveServer, free_port, indicator, new_sqlite_db
    from tests.conftest import register_member as register
    from tests.http_fuzz import judge_post, judge_stream, post_request, send, stream_request

    rng = random.Random(seed)
    limit = 256 * 1024
    with tempfile.TemporaryDirectory(prefix="fuzz-http-") as folder:
        db = new_sqlite_db(Path(folder) / "exchange.db")
        member = register(db, Path(folder))
        server = LiveServer(
            Settings(
                db=db,
                port=free_port(),
                max_content_length=limit,
                body_timeout_seconds=10,
                auth_failures_per_minute=0,
            )
        )
        server.start()
        headers = {"Accept": TAXII, "Authorization": f"Bearer {member.token}"}
        try:
            stored: set[str] = set()
            good = ""
            if target_name == "stream":
                valid = member.sign(indicator("green"))
                requests.post(
                    server.api_root + "collections/bulletins/objects/",
                    data=json.dumps({"objects": [valid]}),
                    headers={**headers, "Content-Type": TAXII},
                    timeout=30,
                )
                with requests.get(
                    server.api_root + "collections/bulletins/events/?from=start",
                    headers={"Authorization": headers["Authorization"]},
                    stream=True,
                    timeout=30,
                ) as opened:
                    for line in opened.iter_lines(decode_unicode=True):
                        if line.startswith("id:"):
                            good = line[3:].strip()
                            break
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                head = bytes([rng.randrange(5), rng.randrange(10), rng.randrange(3)])
                data = head + rng.randbytes(rng.randrange(256))
                tally.tried()
                if target_name == "http":
                    valid = member.sign(indicator("green"))
                    request, framing = post_request(data, member.token, valid, limit)
                    answer = send(server.settings.port, request, timeout=30)
                    problem = judge_post(answer, framing, valid["id"])
                    if answer.status == 202 and framing == "beside" and problem is None:
                        stored.add(valid["id"])
                else:
                    request = stream_request(data, member.token, good)
                    answer = send(server.settings.port, request, timeout=30, stream=True)
                    problem = judge_stream(answer)
                if problem is not None:
                    kind = "hangs" if problem == "hang" else "failures"
                    if answer.status is not None and answer.status >= 500:
                        kind = "500s"
                    tally.failed(data, problem, kind)
            if stored:
                tally.counts["objects_acknowledged"] = len(stored)
                missing = stored - _stored_ids(server, headers)
                tally.counts["objects_lost"] = len(missing)
                tally.counts["failures"] += len(missing)
        finally:
            server.stop()


def _stored_ids(server: Any, headers: dict[str, str]) -> set[str]:
    import requests

    found: set[str] = set()
    base = server.api_root + "collections/bulletins/manifest/?match[type]=indicator"
    url: str | None = base
    while url:
        page = requests.get(url, headers=headers, timeout=60).json()
        found |= {o["id"] for o in page.get("objects", [])}
        url = base + "&next=" + page["next"] if page.get("more") else None
    return found


# --- the parent: one child process per target -------------------------------------------------


def child(args: argparse.Namespace) -> int:
    from exchange.logs import configure_logging

    configure_logging("console", "error")
    tally = Tally(args.child, args.engine, Path(args.report), Path(args.out))
    try:
        if args.child in OVER_HTTP:
            run_http(args.child, args.seconds, tally, args.seed)
        elif args.engine == "atheris":
            run_atheris(args.child, args.seconds, tally)
        else:
            run_hypothesis(args.child, args.seconds, tally)
    finally:
        tally.write()
    return 0


def atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def run_target(target: str, args: argparse.Namespace, engine: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fuzz-report-") as folder:
        report = Path(folder) / "report.json"
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            target,
            "--seconds",
            str(args.seconds),
            "--engine",
            engine,
            "--report",
            str(report),
            "--out",
            args.out,
            "--seed",
            str(args.seed),
        ]
        started = time.monotonic()
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=args.seconds + 600,
            check=False,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        counts: dict[str, Any] = {"target": target, "engine": engine, "inputs": 0, "failures": 0}
        with contextlib.suppress(OSError, ValueError):
            counts = json.loads(report.read_text("utf-8"))
        counts["seconds"] = round(time.monotonic() - started, 1)
        stderr = done.stderr
        if "ERROR: libFuzzer: timeout" in stderr:  # one input ran past -timeout: a hang
            counts["hangs"] = counts.get("hangs", 0) + 1
            counts["failures"] = counts.get("failures", 0) + 1
        if "ERROR: libFuzzer: out-of-memory" in stderr or (
            done.returncode not in (0,) and "Done " not in stderr and target not in OVER_HTTP
        ):
            counts["crashed"] = f"exit {done.returncode}: {stderr[-2000:]}"
            counts["failures"] = counts.get("failures", 0) + 1
        if target in OVER_HTTP and done.returncode != 0:
            counts["crashed"] = f"exit {done.returncode}: {stderr[-2000:]}"
            counts["failures"] = counts.get("failures", 0) + 1
        return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="all")
    parser.add_argument("--seconds", type=int, default=300, help="per target")
    parser.add_argument(
        "--engine", choices=["auto", "atheris", "hypothesis", "random"], default="auto"
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "fuzz-failures"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON line per target")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    targets = IN_PROCESS + OVER_HTTP if args.targets == "all" else args.targets.split(",")
    unknown = set(targets) - set(IN_PROCESS + OVER_HTTP)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {IN_PROCESS + OVER_HTTP}")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if atheris_available() else "hypothesis"
    if engine == "atheris" and not atheris_available():
        parser.error("atheris is not installed: pip install -e '.[fuzz]' (or --engine hypothesis)")
    results = []
    for target in targets:
        counts = run_target(target, args, engine if target in IN_PROCESS else "random")
        results.append(counts)
        if args.json:
            print(json.dumps(counts), flush=True)
        else:
            extra = ""
            if target in OVER_HTTP:
                extra = (
                    f", 500s {counts.get('500s', 0)}, hangs {counts.get('hangs', 0)}, objects "
                    f"lost {counts.get('objects_lost', 0)} of "
                    f"{counts.get('objects_acknowledged', 0)} acknowledged"
                )
            else:
                extra = f", hangs {counts.get('hangs', 0)}"
            print(
                f"{target:<11} {counts['engine']:<10} inputs {counts['inputs']:>9}, failures "
                f"{counts['failures']}{extra} ({counts['seconds']} s)",
                flush=True,
            )
            if counts.get("crashed"):
                print(f"  crashed: {counts['crashed']}", flush=True)
    failed = sum(c.get("failures", 0) for c in results)
    print(f"total: inputs {sum(c['inputs'] for c in results)}, failures {failed}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
