"""Two exchange workers (two apps from ``create_app``, each on its own port) on one PostgreSQL
database: LISTEN/NOTIFY carries "new objects" between them, and cursors work on either.

Each test gets a fresh schema (``search_path`` in the database URL's query, which asyncpg
passes on as a session setting, so the admin CLI and both apps see the same schema).
Needs ``EXCHANGE_TEST_PG_DSN``; skipped without it, except under CI (``CI=true``), where
it fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from exchange.config import Settings
from exchange.services.notify import PgNotifier
from exchange.web.keys import SERVICES
from tests.api.test_stream import new_members, post, session, signed, stream
from tests.conftest import TAXII, LiveServer, free_port, fresh_pg_schema, pg_fetchval

# Long enough that only NOTIFY can deliver within the tests' waits.
NO_POLL = 60.0
WAIT = 5.0


@pytest.fixture
def db_url() -> Iterator[str]:
    """A fresh schema; overrides the SQLite ``db_url`` of tests/conftest.py, so ``make_member``
    registers members in it too."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def workers(db_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    started: list[LiveServer] = []
    try:
        for _ in range(2):
            live = LiveServer(Settings(db=db_url, port=free_port(), stream_poll_seconds=NO_POLL))
            live.start()
            started.append(live)
        yield started[0], started[1]
    finally:
        for live in started:
            live.stop()


def notifier_of(live: LiveServer) -> PgNotifier:
    assert live.runner is not None
    notifier = live.runner.app[SERVICES].notifier
    assert isinstance(notifier, PgNotifier)
    return notifier


async def listening(live: LiveServer) -> int:
    """The server pid of the worker's LISTEN connection, once it is up."""
    deadline = time.monotonic() + WAIT
    while (pid := notifier_of(live).listener_pid) is None:
        assert time.monotonic() < deadline, "the LISTEN connection did not come up"
        await asyncio.sleep(0.05)
    return pid


async def test_an_object_posted_on_one_worker_reaches_a_stream_on_the_other(
    workers: tuple[LiveServer, LiveServer], make_member: Any
) -> None:
    one, two = workers
    author, reader = await new_members(make_member, 2)
    objs = [signed(author) for _ in range(3)]
    await listening(two)
    async with session() as http, stream(http, two, reader.token) as s:
        for obj in objs:
            await post(http, one, author, [obj])
            assert (await s.next(WAIT)).object["id"] == obj["id"]


async def test_cursors_from_one_worker_work_on_the_other(
    workers: tuple[LiveServer, LiveServer], make_member: Any
) -> None:
    one, two = workers
    author, reader = await new_members(make_member, 2)
    objs = [signed(author) for _ in range(4)]
    await listening(two)
    async with session() as http:
        # the TAXII `next` cursor
        await post(http, one, author, objs[:3])
        headers = {"Authorization": f"Bearer {reader.token}", "Accept": TAXII}
        url = "collections/bulletins/objects/"
        params = {"match[type]": "indicator", "limit": "1"}
        async with http.get(one.api_root + url, headers=headers, params=params) as resp:
            page = await resp.json(content_type=None)
        assert page["more"] is True and [o["id"] for o in page["objects"]] == [objs[0]["id"]]
        async with http.get(
            two.api_root + url, headers=headers, params={**params, "next": page["next"]}
        ) as resp:
            assert resp.status == 200
            second = await resp.json(content_type=None)
        assert [o["id"] for o in second["objects"]] == [objs[1]["id"]]

        # the stream's Last-Event-ID
        async with stream(http, one, reader.token, params={"from": "start"}) as s:
            seen: list[Any] = []
            while not seen or seen[-1].object["id"] != objs[1]["id"]:
                seen.append(await s.next(WAIT))
        async with stream(http, two, reader.token, last_event_id=seen[-1].id) as s:
            assert (await s.next(WAIT)).object["id"] == objs[2]["id"]
            await post(http, one, author, [objs[3]])
            assert (await s.next(WAIT)).object["id"] == objs[3]["id"]


async def test_the_listener_reconnects_when_its_connection_drops(
    workers: tuple[LiveServer, LiveServer], make_member: Any, db_url: str
) -> None:
    one, two = workers
    author, reader = await new_members(make_member, 2)
    old = await listening(two)
    assert await pg_fetchval(db_url, "SELECT pg_terminate_backend($1)", old)
    deadline = time.monotonic() + WAIT
    while (new := notifier_of(two).listener_pid) in (None, old):
        assert time.monotonic() < deadline, "the LISTEN connection was not re-made"
        await asyncio.sleep(0.05)
    assert notifier_of(two).reconnects >= 1
    obj = signed(author)
    async with session() as http, stream(http, two, reader.token) as s:
        await post(http, one, author, [obj])
        assert (await s.next(WAIT)).object["id"] == obj["id"]
    assert new != old
