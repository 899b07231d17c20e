"""Push: the resumable event stream ``GET /api/v1/collections/{id}/events/``, read with a raw
streaming HTTP client (aiohttp) against a live exchange."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from exchange.config import Settings
from exchange.models import ObjectFilter
from exchange.policy import ANONYMOUS
from exchange.services.notify import Notifier
from exchange.services.read import find_collection
from exchange.services.runtime import open_services
from exchange.store.sqlite import SqliteStore
from exchange.web import stream as stream_module
from exchange.web.keys import SETTINGS
from tests.conftest import TAXII, TLP, LiveServer, audience_marking, free_port, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

EVENT_STREAM = "text/event-stream"
WAIT = 10.0


# --- a small SSE client ----------------------------------------------------------------------


@dataclass
class Event:
    id: str | None
    event: str
    data: str

    @property
    def object(self) -> dict[str, Any]:
        value = json.loads(self.data)
        assert isinstance(value, dict)
        return value


@dataclass
class Sse:
    """Parses ``text/event-stream`` the way EventSource does (fields, comments, last id)."""

    response: aiohttp.ClientResponse
    last_id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    async def _line(self, timeout: float) -> str:
        raw = await asyncio.wait_for(self.response.content.readline(), timeout)
        if not raw:
            raise EOFError("the stream ended")
        return raw.decode("utf-8").rstrip("\n")

    async def block(self, timeout: float = WAIT) -> dict[str, list[str]]:
        """The fields of the next block (up to a blank line); comments are collected."""
        fields: dict[str, list[str]] = {}
        while True:
            line = await self._line(timeout)
            if line == "":
                if "id" in fields:
                    self.last_id = fields["id"][-1]
                if "retry" in fields:
                    self.retry = int(fields["retry"][-1])
                return fields
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)

    async def next(self, timeout: float = WAIT) -> Event:
        """The next dispatched event (blocks without data, like the preamble, only set the id)."""
        deadline = time.monotonic() + timeout
        while True:
            fields = await self.block(max(0.01, deadline - time.monotonic()))
            if "data" in fields:
                return Event(
                    id=fields["id"][-1] if "id" in fields else self.last_id,
                    event=fields.get("event", ["message"])[-1],
                    data="\n".join(fields["data"]),
                )

    async def objects(self, count: int, timeout: float = WAIT) -> list[Event]:
        events = [await self.next(timeout) for _ in range(count)]
        for e in events:
            assert e.event == "message", e
        return events

    async def nothing_more(self, seconds: float) -> None:
        """No event arrives within ``seconds`` (heartbeats and id-only blocks aside)."""
        with pytest.raises(TimeoutError):
            await self.next(seconds)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))


def events_url(server: LiveServer, collection: str = "bulletins") -> str:
    return f"{server.api_root}collections/{collection}/events/"


@asynccontextmanager
async def stream(
    http: aiohttp.ClientSession,
    server: LiveServer,
    token: str | None = None,
    *,
    collection: str = "bulletins",
    last_event_id: str | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[Sse]:
    headers = {"Accept": EVENT_STREAM}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with http.get(events_url(server, collection), headers=headers, params=params) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == EVENT_STREAM
        sse = Sse(resp)
        first = await sse.block()  # the preamble: retry (and the start cursor)
        assert "data" not in first
        assert sse.retry is not None
        yield sse


def envelope_text(
    objects: list[dict[str, Any]], indent: int | None = None
) -> tuple[str, list[str]]:
    """An envelope and the exact text of each object in it."""
    texts = [json.dumps(o, indent=indent) for o in objects]
    return '{"objects": [\n' + ",\n".join(texts) + "\n]}", texts


async def post(
    http: aiohttp.ClientSession,
    server: LiveServer,
    member: TestMember,
    objects: list[dict[str, Any]],
    indent: int | None = None,
) -> list[str]:
    """Post signed objects to bulletins; every one must be stored. Their exact texts."""
    body, texts = envelope_text(objects, indent)
    async with http.post(
        f"{server.api_root}collections/bulletins/objects/",
        data=body.encode("utf-8"),
        headers={"Authorization": f"Bearer {member.token}", "Accept": TAXII, "Content-Type": TAXII},
    ) as resp:
        status = await resp.json(content_type=None)
        assert resp.status == 202, status
        assert status["success_count"] == len(objects), status
    return texts


async def new_members(make_member: Any, count: int) -> list[TestMember]:
    """New members through the admin CLI (which runs its own event loop: so in a thread)."""
    return [await asyncio.to_thread(make_member) for _ in range(count)]


def signed(member: TestMember, tlp: str = "green", **props: Any) -> dict[str, Any]:
    return member.sign(indicator(tlp, **props))


# --- tests -----------------------------------------------------------------------------------


async def test_member_receives_what_it_may_read_as_it_is_posted(
    server: LiveServer, make_member: Any, db_url: str
) -> None:
    author, reader, insider = await new_members(make_member, 3)
    audience = author.sign(audience_marking([f"member:{insider.identity}"]))
    amber = author.sign(indicator("amber", extra_markings=(audience["id"],)))
    green = signed(author)
    sentinel = signed(author)
    async with (
        session() as http,
        stream(http, server, reader.token) as r,
        stream(http, server, insider.token) as i,
    ):
        await post(http, server, author, [audience, amber])
        texts = await post(http, server, author, [green], indent=2)  # multi-line stored text
        got = await r.next()
        assert got.object["id"] == green["id"]  # neither the AMBER object nor its audience
        assert got.data == texts[0]  # byte-for-byte, line breaks and all
        assert "\n" in got.data
        await post(http, server, author, [sentinel])
        assert (await r.next()).object["id"] == sentinel["id"]
        insider_ids = [e.object["id"] for e in await i.objects(4)]
        assert insider_ids == [audience["id"], amber["id"], green["id"], sentinel["id"]]
        assert got.id is not None and r.last_id is not None
        assert got.id != r.last_id  # opaque cursors: each event its own

    # the delivery ledger records what the stream delivered
    store = SqliteStore(db_url)
    await store.open()
    try:
        deadline = time.monotonic() + WAIT
        while True:
            members = {d.member for d in await store.statuses.list_deliveries(green["id"])}
            if {reader.id, insider.id} <= members or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert {reader.id, insider.id} <= members
        assert reader.id not in {
            d.member for d in await store.statuses.list_deliveries(amber["id"])
        }
    finally:
        await store.close()


async def test_reconnect_with_last_event_id_loses_nothing_and_repeats_nothing(
    server: LiveServer, make_member: Any
) -> None:
    author, reader = await new_members(make_member, 2)
    objs = [signed(author) for _ in range(7)]
    want = [o["id"] for o in objs]
    async with session() as http:
        async with stream(http, server, reader.token) as s:
            start = s.last_id  # the preamble's cursor: "now"
            assert start is not None
            for o in objs[:3]:
                await post(http, server, author, [o])
            first = await s.objects(2)
        # the connection dropped after two events; more objects arrive meanwhile
        await post(http, server, author, objs[3:5])
        async with stream(http, server, reader.token, last_event_id=first[-1].id) as s:
            resumed = await s.objects(3)
            await post(http, server, author, [objs[5]])
            resumed += await s.objects(1)
            assert s.last_id == resumed[-1].id
        got = [e.object["id"] for e in first + resumed]
        assert got == want[:6]
        ids = [e.id for e in first + resumed]
        assert len(set(ids)) == len(ids)  # no repeats

        # the query-parameter form, for clients that cannot set headers
        async with stream(
            http, server, reader.token, params={"last_event_id": first[-1].id or ""}
        ) as s:
            assert [e.object["id"] for e in await s.objects(4)] == want[2:6]

        # a client that received no event yet reconnects from the preamble's cursor
        async with stream(http, server, reader.token, last_event_id=start) as s:
            assert [e.object["id"] for e in await s.objects(6)] == want[:6]
            await post(http, server, author, [objs[6]])
            assert (await s.next()).object["id"] == want[6]
            await s.nothing_more(0.5)


async def test_anonymous_reads_only_tlp_clear_on_public(
    server: LiveServer, make_member: Any
) -> None:
    (author,) = await new_members(make_member, 1)
    green, clear = signed(author, "green"), signed(author, "clear")
    async with session() as http, stream(http, server, collection="public") as s:
        await post(http, server, author, [green, clear])
        assert (await s.next()).object["id"] == clear["id"]
        await s.nothing_more(0.5)

        # from the start: the exchange's own objects, every one TLP:CLEAR, nothing else
        async with stream(http, server, collection="public", params={"from": "start"}) as s:
            everything = []
            while True:
                try:
                    everything.append((await s.next(1.0)).object)
                except TimeoutError:
                    break
        assert green["id"] not in {o["id"] for o in everything}
        assert clear["id"] in {o["id"] for o in everything}
        assert all(TLP["clear"] in o.get("object_marking_refs", []) for o in everything)


async def test_bulletins_needs_a_token(server: LiveServer) -> None:
    async with session() as http:
        for headers in (
            {"Accept": EVENT_STREAM},
            {"Accept": EVENT_STREAM, "Authorization": "Bearer not-a-token"},
        ):
            async with http.get(events_url(server), headers=headers) as resp:
                assert resp.status == 401
                assert resp.headers["Content-Type"] == TAXII
                body = await resp.json(content_type=None)
                assert body["http_status"] == "401"
                assert "WWW-Authenticate" in resp.headers


async def test_refuses_other_media_types_and_bad_cursors(
    server: LiveServer, make_member: Any
) -> None:
    (reader,) = await new_members(make_member, 1)
    auth = {"Authorization": f"Bearer {reader.token}"}
    async with session() as http:
        async with http.get(
            events_url(server), headers={**auth, "Accept": "application/json"}
        ) as resp:
            assert resp.status == 406
            assert (await resp.json(content_type=None))["http_status"] == "406"
        async with http.get(
            events_url(server),
            headers={**auth, "Accept": EVENT_STREAM, "Last-Event-ID": "not-a-cursor"},
        ) as resp:
            assert resp.status == 400
        async with http.get(events_url(server, "nope"), headers={"Accept": EVENT_STREAM}) as resp:
            assert resp.status == 404
        async with http.get(
            events_url(server),
            headers={**auth, "Accept": EVENT_STREAM},
            params={"match[version]": "first"},
        ) as resp:
            assert resp.status == 400


@pytest.fixture
def start_server(db_url: str) -> Any:
    started: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        live = LiveServer(Settings(db=db_url, port=free_port(), **settings))
        live.start()
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


async def test_heartbeats_keep_an_idle_stream_open(start_server: Any, make_member: Any) -> None:
    live = start_server(stream_heartbeat_seconds=0.2)
    (reader,) = await new_members(make_member, 1)
    async with session() as http, stream(http, live, reader.token) as s:
        deadline = time.monotonic() + 5
        while s.comments.count("heartbeat") < 3 and time.monotonic() < deadline:
            await s.block(2)
        assert s.comments.count("heartbeat") >= 3


async def test_a_subscriber_too_far_behind_is_told_to_resume(
    start_server: Any, make_member: Any
) -> None:
    live = start_server(default_page_size=1, stream_queue_limit=2)
    author, reader = await new_members(make_member, 2)
    objs = [signed(author) for _ in range(5)]
    async with session() as http:
        async with stream(http, live, reader.token) as s:
            await post(http, live, author, objs)  # one insert of 5 > the limit of 2
            first = await s.next()
            resume = await s.next()
            assert resume.event == "resume"
            data = resume.object
            assert data["last_event_id"] == first.id
            assert "behind" in data["reason"]
            with pytest.raises(EOFError):
                await s.next()
        async with stream(http, live, reader.token, last_event_id=data["last_event_id"]) as s:
            rest = await s.objects(4)
        assert [e.object["id"] for e in [first, *rest]] == [o["id"] for o in objs]


async def test_streams_end_cleanly_on_shutdown(start_server: Any, make_member: Any) -> None:
    live = start_server()
    (reader,) = await new_members(make_member, 1)
    async with session() as http, stream(http, live, reader.token) as s:
        started = time.monotonic()
        stopping = asyncio.create_task(asyncio.to_thread(live.stop))
        resume = await s.next()
        assert resume.event == "resume"
        assert "shutting down" in resume.object["reason"]
        assert resume.object["last_event_id"] == s.last_id
        with pytest.raises(EOFError):
            await s.next()
        await stopping
        assert time.monotonic() - started < 10
    live.runner = None  # stopped already


async def test_objects_written_by_another_worker_are_seen(
    start_server: Any, make_member: Any
) -> None:
    one = start_server(stream_poll_seconds=0.2)
    two = start_server(stream_poll_seconds=0.2)  # another worker on the same SQLite file
    author, reader = await new_members(make_member, 2)
    obj = signed(author)
    async with session() as http, stream(http, two, reader.token) as s:
        await post(http, one, author, [obj])
        assert (await s.next(5)).object["id"] == obj["id"]
        # the admin CLI stores the new member's identity (TLP:GREEN) without telling anyone
        (newcomer,) = await new_members(make_member, 1)
        assert (await s.next(5)).object["id"] == newcomer.identity


async def test_a_stalled_write_ends_the_stream_with_resume(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading: the write times out, ``event: resume`` names the cursor
    of the last event written, and the stream ends (nothing piles up in memory)."""
    monkeypatch.setattr(stream_module, "WRITE_TIMEOUT_SECONDS", 0.2)
    settings = Settings(db=db_url)
    services = await open_services(settings)
    written: list[bytes] = []

    class Transport:
        closing = False

        def is_closing(self) -> bool:
            return self.closing

        def abort(self) -> None:
            self.closing = True

    class Request:
        app = {SETTINGS: settings}
        headers: dict[str, str] = {}
        transport = Transport()

    class StuckResponse:
        async def write(self, data: bytes) -> None:
            written.append(data)
            if len(written) == 1:
                await asyncio.sleep(3600)  # the first batch never drains

    try:
        notifier = Notifier(services.store, 60)
        with notifier.subscribe() as sub:
            events = stream_module.EventStream(
                Request(),
                StuckResponse(),
                services,
                find_collection("public"),  # type: ignore[arg-type]
                ANONYMOUS,
                ObjectFilter(versions=("all",)),
                sub,
                0,
                await services.store.objects.latest_seq(),
            )
            await asyncio.wait_for(events.run(), WAIT)
    finally:
        await services.store.close()
    assert len(written) == 2
    ids = [line[4:] for line in written[0].decode().splitlines() if line.startswith("id: ")]
    assert ids  # the exchange's own TLP:CLEAR objects
    resume = written[1].decode()
    assert resume.startswith("event: resume\n")
    data = json.loads(resume.split("data: ", 1)[1])
    assert data["last_event_id"] == ids[-1]
    assert "took longer" in data["reason"]
