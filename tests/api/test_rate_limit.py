"""Per-member and per-address request limits: a 429 TAXII error with Retry-After past the limit,
counts shared through the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange.config import Settings
from exchange.store.sqlite import SqliteStore
from tests.conftest import TAXII, LiveServer, free_port, within_one_rate_window


@pytest.fixture
def limited(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(
        Settings(
            db=db_url, port=free_port(), rate_limit_per_minute=5, anonymous_rate_limit_per_minute=3
        )
    )
    live.start()
    yield live
    live.stop()


def test_member_limit(limited: LiveServer, make_member: Any) -> None:
    member = make_member()
    headers = {"Accept": TAXII, "Authorization": f"Bearer {member.token}"}
    within_one_rate_window()
    answers = [
        requests.get(limited.api_root + "collections/", headers=headers, timeout=10)
        for _ in range(6)
    ]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["http_status"] == "429"


def test_anonymous_limit_is_separate(limited: LiveServer) -> None:
    within_one_rate_window()
    codes = [requests.get(limited.api_root, timeout=10).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


async def test_counts_are_shared_through_the_store(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'x.db'}")
    await store.open()
    try:
        assert await store.counters.add_rate_counts(600, {"a": 2}) == {"a": 2}
        assert await store.counters.add_rate_counts(600, {"a": 3, "b": 1}) == {"a": 5, "b": 1}
        assert await store.counters.add_rate_counts(720, {}) == {}
    finally:
        await store.close()
