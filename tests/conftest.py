"""Shared fixtures: a live exchange on a real port (taxii2-client is synchronous), the admin CLI
through ``main(argv)``, and members with tokens and keys."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web

from exchange.app import create_app
from exchange.cli import main
from exchange.config import Settings
from exchange.crypto import SigningKey, sign_object
from exchange.logs import configure_logging
from exchange.web.guard import start_sites

TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
AUDIENCE_EXT = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"
TAXII = "application/taxii+json;version=2.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true or ``seconds`` pass; its last value.
    Tests wait for a state this way, never by sleeping a guessed time."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def serving_within(port: int, seconds: float = 60.0) -> None:
    """Wait for an ``exchange serve`` process to answer discovery on ``port``."""

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/taxii2/", timeout=1).ok
        except requests.ConnectionError:
            return False

    if not until(answers, seconds):
        raise AssertionError("the server did not start")


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str) -> dict[str, Any]:
    code, out, err = run_cli(*argv, "--json")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


METRICS_TOKEN = "operator-metrics-token-for-tests"


class LiveServer:
    """The exchange served from a thread with its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def api_root(self) -> str:
        return self.url + "/api/v1/"

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    async def _start(self) -> None:
        # as `exchange serve` does: with the connection limits of exchange.web.guard
        settings = self.settings.model_copy(update={"host": "127.0.0.1"})
        self.runner, _sites = await start_sites(create_app(settings), settings)

    def stop(self) -> None:
        # Idempotent: a test that stops a server on purpose may meet its cleanup again, and a
        # stopped loop would never run a second cleanup.
        if self.runner is not None:
            runner, self.runner = self.runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(60)
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session", autouse=True)
def quiet_logs() -> None:
    """Logs go to stderr, warnings and up, as `exchange serve` would configure them."""
    configure_logging("console", "warning")


def new_sqlite_db(path: Path) -> str:
    """A new SQLite exchange at ``path``, made as an operator would (`admin migrate`): the
    other admin commands refuse a database file that does not exist."""
    url = f"sqlite:///{path}"
    code, _, err = run_cli("admin", "migrate", "--db", url)
    assert code == 0, err
    return url


PG_ENV = "EXCHANGE_TEST_PG_DSN"
# The stores every store-dependent test runs on: ``@pytest.fixture(params=STORES)``.
STORES = ("sqlite", "postgres")


def pg_dsn() -> str:
    """The test PostgreSQL server. Without it a test is skipped, but under CI it fails: the
    PostgreSQL tests must run there, never skip."""
    dsn = os.environ.get(PG_ENV, "").strip()
    if not dsn:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_ENV} is not set under CI: the PostgreSQL tests must run there")
        pytest.skip(f"{PG_ENV} not set: the PostgreSQL tests need a server")
    return dsn


async def pg_fetchval(dsn: str, statement: str, *args: Any) -> Any:
    """One statement on a connection of its own; its first value."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A database URL for a fresh, empty schema on the test server, dropped afterwards."""
    dsn = pg_dsn()
    schema = f"t_{secrets.token_hex(8)}"
    asyncio.run(pg_fetchval(dsn, f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"
    finally:
        asyncio.run(pg_fetchval(dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@contextlib.contextmanager
def fresh_database(store: str, tmp_path: Path) -> Iterator[str]:
    """A new, migrated exchange database on ``store`` (one of STORES): a file under
    ``tmp_path`` on SQLite, a schema of its own on PostgreSQL."""
    if store == "sqlite":
        yield new_sqlite_db(tmp_path / "exchange.db")
        return
    with fresh_pg_schema() as url:
        code, _, err = run_cli("admin", "migrate", "--db", url)
        assert code == 0, err
        yield url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return new_sqlite_db(tmp_path / "exchange.db")


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(
        Settings(
            db=db_url, port=free_port(), max_content_length=256 * 1024, metrics_token=METRICS_TOKEN
        )
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


@dataclass
class TestMember:
    id: str
    identity: str
    name: str
    token: str
    token_id: str
    key_path: Path
    key: SigningKey
    db: str

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_object(dict(obj, created_by_ref=self.identity), self.key)


def add_member_cli(
    db_url: str,
    name: str = "CERT-A",
    *,
    kind: str = "government",
    sector: str = "government",
    economy: str = "DE",
) -> dict[str, Any]:
    """``exchange admin member add`` through ``main(argv)``: the member as the CLI prints it."""
    return cli_json(
        "admin",
        "member",
        "add",
        "--db",
        db_url,
        "--name",
        name,
        "--kind",
        kind,
        "--sector",
        sector,
        "--economy",
        economy,
    )


def register_member(
    db_url: str,
    folder: Path,
    name: str | None = None,
    kind: str = "government",
    sector: str = "government",
    economy: str = "DE",
    read_only: bool = False,
) -> TestMember:
    """A member registered as an administrator would, with a token and a signing key (its
    private key written to ``folder``)."""
    name = name or f"member-{uuid.uuid4().hex[:8]}"
    m = add_member_cli(db_url, name, kind=kind, sector=sector, economy=economy)
    flags = ["--read-only"] if read_only else []
    t = cli_json("admin", "token", "issue", m["id"], "--db", db_url, *flags)
    key_path = folder / f"{m['id']}.pem"
    cli_json("admin", "key", "generate", m["id"], "--db", db_url, "--out", str(key_path))
    return TestMember(
        id=m["id"],
        identity=m["identity"],
        name=name,
        token=t["token"],
        token_id=t["token_id"],
        key_path=key_path,
        key=SigningKey.from_pem(key_path.read_bytes()),
        db=db_url,
    )


@pytest.fixture
def make_member(db_url: str, tmp_path: Path) -> Any:
    def make(
        name: str | None = None,
        kind: str = "government",
        sector: str = "government",
        economy: str = "DE",
        read_only: bool = False,
    ) -> TestMember:
        return register_member(db_url, tmp_path, name, kind, sector, economy, read_only)

    return make


def stamp() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def indicator(
    tlp: str = "green", extra_markings: tuple[str, ...] = (), **props: Any
) -> dict[str, Any]:
    now = stamp()
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": "C2 server",
        "description": "A command and control server",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": now,
        "indicator_types": ["malicious-activity"],
        "object_marking_refs": [TLP[tlp], *extra_markings],
    }
    obj.update(props)
    return obj


def audience_marking(entries: list[str]) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.uuid4()}",
        "created": stamp(),
        "name": "audience",
        "extensions": {AUDIENCE_EXT: {"extension_type": "property-extension", "audience": entries}},
    }


def relationship(source: str, target: str, tlp: str = "green") -> dict[str, Any]:
    now = stamp()
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
        "object_marking_refs": [TLP[tlp]],
    }


def within_one_rate_window(seconds: float = 15.0) -> None:
    """Wait, when needed, until ``seconds`` remain of the current one-minute rate-limit
    window: the limits count per fixed window (``exchange.services.ratelimit``), so a burst
    that a test expects to be limited must not straddle two of them."""
    import time

    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
