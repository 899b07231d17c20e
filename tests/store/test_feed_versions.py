"""The public feeds' versions (their Last-Modified), shared by every worker, on both stores."""

from __future__ import annotations

from tests.store.conftest import StoreFactory


async def test_feed_version_round_trip(store_factory: StoreFactory) -> None:
    one, other = store_factory(), store_factory()
    await one.open()
    await other.open()
    assert await one.counters.feed_version("public-bulletins") is None
    await one.counters.set_feed_version("public-bulletins", "d1", "2026-12-01T10:00:00.000000Z")
    assert await other.counters.feed_version("public-bulletins") == (
        "d1",
        "2026-12-01T10:00:00.000000Z",
    )
    await other.counters.set_feed_version("public-bulletins", "d2", "2026-12-01T10:00:01.000000Z")
    assert await one.counters.feed_version("public-bulletins") == (
        "d2",
        "2026-12-01T10:00:01.000000Z",
    )
    assert await one.counters.feed_version("another") is None
