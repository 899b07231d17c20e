"""Upgrades: a database written by an earlier release migrates in place, on both stores, with
nothing lost and every object still verifying.

The fixtures in ``tests/assets/upgrade/`` were written by the release itself
(``bench/make_upgrade_fixture.py``, run against a checkout of the release's tag): members of
each kind, a group, standing rules, keys (one revoked), tokens and objects of every kind.
Each release gets its fixture; each is migrated here with today's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.config import Settings
from exchange.crypto import VerifyKey, signature_block, token_hash, verify_object_signature
from exchange.services.runtime import open_services
from exchange.store.sql import SqlStore
from tests.conftest import cli_json, fresh_pg_schema

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "upgrade"
RELEASES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def expected(release: str, store: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((FIXTURES / f"{release}.json").read_text())[store]
    return value


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    with fresh_pg_schema() as url:
        yield url


def load_pg_dump(release: str, url: str) -> None:
    """Load the release's dump into the (fresh, empty) schema of ``url``."""
    dsn, _, query = url.partition("?")
    schema = dict(p.split("=", 1) for p in query.split("&"))["search_path"]
    dump = (FIXTURES / f"{release}.pg.sql").read_text()
    dump = dump.replace("upgrade_fixture", schema)
    dump = "\n".join(
        line
        for line in dump.splitlines()
        if not line.startswith(("CREATE SCHEMA", "SET transaction_timeout"))
    )
    subprocess.run(
        ["psql", os.environ.get("EXCHANGE_TEST_PG_DSN", dsn), "-q", "-v", "ON_ERROR_STOP=1"],
        input=dump,
        text=True,
        check=True,
        capture_output=True,
    )


def assert_upgraded(db: str, want: dict[str, Any]) -> None:
    migrated = cli_json("admin", "migrate", "--db", db)
    assert migrated["schema_version"] == migrated["expected"]
    assert cli_json("admin", "check", "--db", db) == {"ok": True, "problems": []}
    asyncio.run(assert_kept(db, want))


async def assert_kept(db: str, want: dict[str, Any]) -> None:
    services = await open_services(Settings(db=db))
    try:
        store = services.store
        assert isinstance(store, SqlStore)
        async with store.transaction() as tx:
            rows = await tx.fetchall("SELECT stix_id, version, body FROM objects")
        got = {(r[0], r[1]): r[2] for r in rows}
        keys = {k.key_id: VerifyKey.from_pem(k.public_key) for k in await store.members.list_keys()}
        for entry in want["objects"]:
            body = got.get((entry["id"], entry["version"]))
            assert body is not None, f"lost {entry['id']} {entry['version']}"
            assert hashlib.sha256(body.encode()).hexdigest() == entry["sha256"], entry["id"]
            obj = json.loads(body)
            block = signature_block(obj)
            if block is not None:  # extension definitions are unsigned
                verify_object_signature(obj, keys[block["key_id"]])
        for member in want["members"].values():
            stored = await store.members.get_member(member["id"])
            assert stored.identity == member["identity"]
            token = await store.members.find_token(token_hash(member["token"]))
            assert token is not None and token.member == member["id"]
    finally:
        await store.close()


@pytest.mark.parametrize("release", RELEASES)
def test_sqlite_database_of_an_earlier_release_migrates_in_place(
    release: str, tmp_path: Path
) -> None:
    db_file = tmp_path / "exchange.db"
    shutil.copyfile(FIXTURES / f"{release}.sqlite", db_file)
    assert_upgraded(f"sqlite:///{db_file}", expected(release, "sqlite"))


@pytest.mark.parametrize("release", RELEASES)
def test_postgresql_database_of_an_earlier_release_migrates_in_place(
    release: str, pg_schema_url: str
) -> None:
    load_pg_dump(release, pg_schema_url)
    assert_upgraded(pg_schema_url, expected(release, "postgres"))


def test_every_release_has_its_fixture() -> None:
    assert "v0.1.0" in RELEASES
    for release in RELEASES:
        for suffix in (".sqlite", ".pg.sql"):
            assert (FIXTURES / f"{release}{suffix}").exists(), release
