"""Shared parts of the load scripts: a throw-away database, an ``exchange serve`` subprocess,
set-up through the admin CLI (``--json``), signed STIX objects, latency percentiles and the
server's resident memory read from /proc.

Everything talks to 127.0.0.1 only, and every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from exchange.crypto import SigningKey, sign_object

ROOT = Path(__file__).resolve().parent.parent
TAXII = "application/taxii+json;version=2.1"
AUDIENCE_EXT = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"
TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
LOOPBACK = "127.0.0.1"


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def stamp(when: datetime | None = None) -> str:
    value = (when or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise the soft open-files limit towards ``wanted`` (never past the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft, hard


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    info["python"] = sys.version.split()[0]
    return info


# --- server memory -----------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the fields start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    tree = _children()
    out, todo = [], [pid]
    while todo and len(out) < 10_000:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, []))
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and every live process under it (and of the children
    they have reaped)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            # utime, stime, cutime, cstime are fields 14-17 of stat(5); here offset by 3.
            total += sum(int(f) for f in fields[11:15])
    return total / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and every process under it (VmRSS summed)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


class RssSampler:
    """Samples the server tree's RSS every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.last = 0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> int:
        self.last = rss_bytes(self.pid)
        self.peak = max(self.peak, self.last)
        return self.last

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


def mib(n: int) -> float:
    return round(n / (1024 * 1024), 1)


# --- a throw-away database ---------------------------------------------------------------------


@dataclass
class Database:
    url: str
    kind: str
    admin_url: str | None = None
    name: str | None = None


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        raise SystemExit(f"bench: refusing non-loopback database host {host!r}")


async def _pg(admin_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=15)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(
    db: str | None, workdir: Path, keep: bool = False, pg_settings: dict[str, str] | None = None
) -> Iterator[Database]:
    """A new, empty database: a SQLite file in ``workdir``, or ``bench_<random>`` created on
    the PostgreSQL server of ``db`` (and dropped afterwards, unless ``keep``)."""
    if not db or db.startswith("sqlite"):
        path = workdir / "bench.db"
        yield Database(url=f"sqlite:///{path.resolve()}", kind="sqlite")
        return
    if not db.startswith(("postgresql://", "postgres://")):
        raise SystemExit(f"bench: unsupported --db {db!r}")
    _check_loopback(db)
    name = f"bench_{secrets.token_hex(4)}"
    asyncio.run(_pg(db, f'CREATE DATABASE "{name}"'))
    log(f"created PostgreSQL database {name}")
    for setting, value in (pg_settings or {}).items():
        # Database-level settings (ALTER DATABASE … SET), e.g. jit = off: what an operator
        # would configure; the exchange's own code is left as it is.
        asyncio.run(_pg(db, f'ALTER DATABASE "{name}" SET {setting} = {value}'))
        log(f"ALTER DATABASE {name} SET {setting} = {value}")
    try:
        yield Database(url=_with_db(db, name), kind="postgresql", admin_url=db, name=name)
    finally:
        if keep:
            log(f"kept PostgreSQL database {name}")
        else:
            try:
                asyncio.run(_pg(db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"dropped PostgreSQL database {name}")
            except Exception as exc:  # report, never hide the benchmark's own result
                log(f"could not drop database {name}: {exc}")


# --- the admin CLI -----------------------------------------------------------------------------


def exchange_cmd() -> list[str]:
    return [sys.executable, "-m", "exchange"]


# ``python -m`` puts its working directory first on sys.path: run the exchange from a
# folder without a package in it, so that ``PYTHONPATH=/path/to/other/checkout`` (a side by
# side comparison with another version) really runs that version.
NEUTRAL_CWD = Path("/")


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("EXCHANGE_LOG_LEVEL", "warning")
    env.pop("EXCHANGE_CONFIG", None)
    return env


def admin(db_url: str, *args: str, timeout: float = 60.0) -> dict[str, Any]:
    """Run ``exchange admin ARGS --json`` and return its JSON object."""
    cmd = [*exchange_cmd(), "admin", *args, "--db", db_url, "--json"]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=server_env(),
        cwd=NEUTRAL_CWD,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed: {done.stderr.strip()}")
    value = json.loads(done.stdout)
    assert isinstance(value, dict)
    return value


@dataclass
class BenchMember:
    id: str
    identity: str
    name: str
    kind: str
    sector: str
    economy: str
    token: str = ""
    key: SigningKey | None = None
    groups: list[str] = field(default_factory=list)

    def matches(self, entry: str) -> bool:
        kind, _, value = entry.partition(":")
        return (
            (kind == "member" and value == self.identity)
            or (kind == "group" and value in self.groups)
            or (kind == "sector" and value == self.sector)
            or (kind == "economy" and value == self.economy)
            or (kind == "kind" and value == self.kind)
        )


def add_member(
    db_url: str,
    name: str,
    kind: str,
    sector: str,
    economy: str,
    workdir: Path,
    *,
    tokens: int = 1,
    key: bool = False,
) -> tuple[BenchMember, list[str]]:
    data = admin(
        db_url,
        "member",
        "add",
        "--name",
        name,
        "--kind",
        kind,
        "--sector",
        sector,
        "--economy",
        economy,
    )
    member = BenchMember(
        id=data["id"],
        identity=data["identity"],
        name=name,
        kind=kind,
        sector=sector,
        economy=economy,
    )
    issued = [
        admin(db_url, "token", "issue", member.id, "--ttl", "1d")["token"] for _ in range(tokens)
    ]
    member.token = issued[0]
    if key:
        pem = workdir / f"{name}.pem"
        admin(db_url, "key", "generate", member.id, "--out", str(pem))
        member.key = SigningKey.from_pem(pem.read_bytes())
    return member, issued


def add_group(db_url: str, name: str, members: Sequence[BenchMember]) -> None:
    admin(db_url, "group", "create", name)
    for m in members:
        admin(db_url, "group", "add", name, m.id)
        m.groups.append(name)


# --- the server --------------------------------------------------------------------------------


class Server:
    """``exchange serve`` on a free loopback port, in its own session, stopped on exit."""

    def __init__(
        self, db_url: str, workers: int, workdir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.db_url = db_url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.api = f"{self.base}/api/v1/"
        self.log_path = workdir / "server.log"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        env = server_env()
        env.update(self.extra_env)
        cmd = [
            *exchange_cmd(),
            "--db",
            self.db_url,
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=NEUTRAL_CWD,
                start_new_session=True,
            )
        asyncio.run(self._wait_ready(timeout))

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise SystemExit(
                        f"bench: the server exited early; see {self.log_path}:\n"
                        + self.log_path.read_text()[-2000:]
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    async with session.get(
                        self.base + "/taxii2/",
                        headers={"Accept": TAXII},
                        timeout=aiohttp.ClientTimeout(total=2),
                    ) as r:
                        if r.status == 200:
                            # With several workers, give every worker time to bind and open.
                            await asyncio.sleep(1.0 if self.workers > 1 else 0.2)
                            return
                await asyncio.sleep(0.2)
        raise SystemExit(f"bench: the server did not answer within {timeout}s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        tree = process_tree(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        # Anything of ours still left (worker or pool processes), by pid.
        time.sleep(0.5)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="exchange-bench-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- STIX objects ------------------------------------------------------------------------------


def indicator(
    author: str,
    tlp: str,
    extra_markings: Sequence[str] = (),
    *,
    n: int = 0,
    description: str | None = None,
    when: str | None = None,
) -> dict[str, Any]:
    now = when or stamp()
    rng = random.Random(n)
    ip = (
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "created_by_ref": author,
        "name": f"C2 server {ip}",
        "description": description or f"Command and control server of campaign {n % 97}",
        "pattern": f"[ipv4-addr:value = '{ip}']",
        "pattern_type": "stix",
        "valid_from": now,
        "indicator_types": ["malicious-activity"],
        "labels": ["bench"],
        "object_marking_refs": [TLP[tlp], *extra_markings],
    }


def audience_marking(
    author: str, entries: Sequence[str], when: str | None = None
) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.uuid4()}",
        "created": when or stamp(),
        "created_by_ref": author,
        "name": "audience",
        "extensions": {
            AUDIENCE_EXT: {"extension_type": "property-extension", "audience": list(entries)}
        },
    }


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_encode(args: tuple[bytes, list[dict[str, Any]]]) -> list[bytes]:
    """Sign objects with a private key (PEM) and encode them: run in a process pool."""
    pem, objects = args
    key = SigningKey.from_pem(pem)
    return [encode(sign_object(o, key)) for o in objects]


def envelope(encoded: Sequence[bytes]) -> bytes:
    return b'{"objects":[' + b",".join(encoded) + b"]}"


def headers(token: str | None, *, post: bool = False) -> dict[str, str]:
    """TAXII request headers; ``token`` is a bearer token, or a whole ``Basic …``
    Authorization value (medallion, in bench/compare.py)."""
    out = {"Accept": TAXII}
    if token:
        out["Authorization"] = token if token.startswith("Basic ") else f"Bearer {token}"
    if post:
        out["Content-Type"] = TAXII
    return out


async def collection_id(session: aiohttp.ClientSession, api: str, token: str, alias: str) -> str:
    async with session.get(api + "collections/", headers=headers(token)) as r:
        r.raise_for_status()
        body = await r.json(content_type=None)
    for c in body.get("collections", []):
        if c.get("alias") == alias:
            return str(c["id"])
    raise SystemExit(f"bench: no collection with alias {alias!r}")
