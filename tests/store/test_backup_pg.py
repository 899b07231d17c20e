"""Moving an exchange from SQLite to PostgreSQL with `admin backup` / `admin restore`, and back.

PostgreSQL comes from ``EXCHANGE_TEST_PG_DSN``, as for the store contract suite (skipped
without it, failing under ``CI=true``); each test gets a schema of its own, which the
exchange reaches through a ``search_path`` parameter in its database URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.store import backup as backup_module
from tests.cli.test_backup_cli import assert_serves_on, observe, populate, start
from tests.conftest import LiveServer, cli_json, fresh_pg_schema, run_cli


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema (dropped afterwards)."""
    with fresh_pg_schema() as url:
        yield url


def test_move_from_sqlite_to_postgresql_and_back(
    server: LiveServer,
    make_member: Any,
    db_url: str,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small pages: backup and restore go page by page on both databases.
    monkeypatch.setattr(backup_module, "BATCH_ROWS", 2)
    population = populate(server, make_member)
    before = observe(server, population)

    from_sqlite = tmp_path / "sqlite.jsonl.gz"
    made = cli_json("admin", "backup", str(from_sqlite), "--db", db_url)
    loaded = cli_json("admin", "restore", str(from_sqlite), "--db", pg_url)
    assert loaded["tables"] == made["tables"]

    # A restore target that now holds data is refused with one line.
    code, out, err = run_cli("admin", "restore", str(from_sqlite), "--db", pg_url)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "not empty" in err

    on_pg = start(pg_url)
    try:
        assert observe(on_pg, population) == before
        # Backed up from PostgreSQL (a REPEATABLE READ snapshot) while it serves.
        from_pg = tmp_path / "pg.jsonl.gz"
        made_pg = cli_json("admin", "backup", str(from_pg), "--db", pg_url)
        # The same rows, and the deliveries the reads since have recorded.
        delivered = made_pg["tables"].pop("deliveries")
        assert delivered >= made["tables"].pop("deliveries")
        assert made_pg["tables"] == made["tables"]
        assert_serves_on(on_pg, population)  # the clock went on after the restored objects
    finally:
        on_pg.stop()

    back = f"sqlite:///{tmp_path / 'back.db'}"
    restored = cli_json("admin", "restore", str(from_pg), "--db", back)["tables"]
    assert restored == {**made["tables"], "deliveries": delivered}
    on_sqlite = start(back)
    try:
        assert observe(on_sqlite, population) == before
    finally:
        on_sqlite.stop()
