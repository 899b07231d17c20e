"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL.

- SQLite: a fresh database file under pytest's ``tmp_path``.
- PostgreSQL: the server named by ``EXCHANGE_TEST_PG_DSN``, a fresh schema per test
  (``search_path`` set through ``PostgresStore(server_settings=...)``), dropped afterwards.
  Without that variable the PostgreSQL half is skipped, except under CI (``CI=true``),
  where it fails: CI must never skip it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from exchange.store.base import Store
from tests.conftest import STORES, pg_dsn

StoreFactory = Callable[[], Store]


@pytest.fixture(params=STORES)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Makes (unopened) stores that all point at the same fresh, empty database."""
    made: list[Store] = []
    if request.param == "sqlite":
        from exchange.store.sqlite import SqliteStore

        url = f"sqlite:///{tmp_path}/exchange.db"  # tmp_path is absolute: sqlite:////abs/…
        assert url.startswith("sqlite:////")

        def make() -> Store:
            store = SqliteStore(url)
            made.append(store)
            return store

        try:
            yield make
        finally:
            for store in made:
                await store.close()
        return

    dsn = pg_dsn()
    import asyncpg

    from exchange.store.postgres import PostgresStore

    schema = f"t_{secrets.token_hex(8)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()

    def make_pg() -> Store:
        store = PostgresStore(dsn, min_size=1, max_size=4, server_settings={"search_path": schema})
        made.append(store)
        return store

    try:
        yield make_pg
    finally:
        for store in made:
            await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An opened, migrated, empty store."""
    opened = store_factory()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
