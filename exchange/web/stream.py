"""Push: ``GET /api/v1/collections/{collection}/events/``, a resumable ``text/event-stream``.

One event per object version the caller may read, in the order the exchange
stored them::

    id: 1234
    data: {"type":"indicator", ...

- ``id`` is the cursor: opaque (the store's position, sealed for this collection
  and reader), so it reveals nothing of objects the reader may not read. It is
  stateless: it survives a restart and works on any worker.
- ``data`` is the object's stored JSON text, byte-for-byte, split at its line
  breaks into several ``data:`` lines that an SSE client joins back with ``\\n``.
  (SSE cannot carry a carriage return: a CR or CRLF line break inside the
  stored text's whitespace arrives as LF. The JSON value, and so the signature,
  are unchanged.)
- Where to start: the ``Last-Event-ID`` header, else the ``last_event_id`` query
  parameter (for clients that cannot set headers), resumes after that cursor,
  without loss or duplicates. Without a cursor the stream starts *now*, at the
  store's latest object: only objects added from then on are sent, and the first
  block of the stream (``retry:`` and ``id:`` with no data, which dispatches no
  event) gives the client that starting cursor, so a reconnect loses nothing.
  ``?from=start`` starts at the beginning instead.
- ``match[type]``, ``match[id]`` and ``match[spec_version]`` narrow the stream as on
  the objects endpoint; every version is an event (``match[version]`` is refused).
- ``: heartbeat`` comment lines keep idle connections open (every
  ``stream_heartbeat_seconds`` without other traffic).
- ``event: resume`` with data ``{"reason": ..., "last_event_id": ...}`` comes last
  when the exchange ends a stream: the client fell more than ``stream_queue_limit``
  objects behind the head, a write to it stalled for ``WRITE_TIMEOUT_SECONDS``,
  the server is shutting down, the database went away, or its credentials stopped
  working (suspension, token revocation or expiry: checked in the database before
  every write of events, so no event follows them). The client reconnects with
  ``Last-Event-ID`` and loses nothing.

Each stream reads from the store at its own pace (``Store.read_objects``, the
sharing rules in the query, pages of ``default_page_size``); a notifier only
wakes it. Nothing is queued in memory per subscriber.

"Behind the head" counts the objects committed after the stream connected that it
has not yet passed (a push server's queue length); objects before the connection,
read while catching up from a cursor, do not count, so a reconnect always makes
progress. One insert of more than ``stream_queue_limit`` objects therefore ends
every live stream once; they reconnect and catch up from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Mapping

import orjson
import structlog
from aiohttp import web

from exchange.errors import InvalidInput, NotAcceptable, NotAuthenticated, StoreUnavailable
from exchange.models import ObjectFilter, Page, Principal, ReadQuery, StoredObject
from exchange.services.notify import Subscription
from exchange.services.read import Collection, find_collection
from exchange.services.runtime import Services
from exchange.taxii.cursor import Cursors
from exchange.taxii.filters import parse_filter
from exchange.taxii.media import accepts_event_stream
from exchange.web.keys import REQUEST_ID, SERVICES, SETTINGS, principal_of
from exchange.web.ops import METRICS

API_ROOT = "/api/v1/"
EVENT_STREAM = "text/event-stream"
WRITE_TIMEOUT_SECONDS = 30.0  # a write (drain) to one client taking longer ends its stream
CLOSE_TIMEOUT_SECONDS = 2.0  # for the last words to a client that is going away
RETRY_MILLISECONDS = 2000  # the reconnection delay suggested to clients
STREAM_FILTERS = {"match[id]", "match[type]", "match[spec_version]"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

routes = web.RouteTableDef()
log = structlog.get_logger("exchange.stream")


class _Stalled(Exception):
    """A write to the client did not drain in time."""


def stream_scope(collection: Collection, principal: Principal) -> str:
    """What an event id is sealed for: one collection, one reader."""
    return f"{collection.id}:{principal.member or ''}"


def _start_cursor(request: web.Request, cursors: Cursors, scope: str) -> tuple[int | None, bool]:
    """(cursor, given by the client); cursor None: start now."""
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        return cursors.decode_event(scope, header), True
    query = request.query.get("last_event_id", "").strip()
    if query:
        return cursors.decode_event(scope, query), True
    where = request.query.get("from", "now").strip().lower() or "now"
    if where not in ("now", "start"):
        raise InvalidInput("from must be 'now' or 'start'")
    return (None if where == "now" else 0), False


def _filter(request: web.Request) -> ObjectFilter:
    params: dict[str, list[str]] = {}
    for key, value in request.query.items():
        if key.startswith("match["):
            params.setdefault(key, []).append(value)
    flt = parse_filter(params, allow=STREAM_FILTERS, default_versions=("all",))
    return flt.model_copy(update={"versions": ("all",)})


def encode_event(obj: StoredObject, event_id: str) -> bytes:
    """``id:`` the cursor, the stored text as ``data:`` lines, a blank line."""
    lines = [f"id: {event_id}"]
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(obj.body))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_resume(reason: str, event_id: str) -> bytes:
    data = orjson.dumps({"reason": reason, "last_event_id": event_id}).decode("utf-8")
    return f"event: resume\nid: {event_id}\ndata: {data}\n\n".encode()


HEARTBEAT = b": heartbeat\n\n"


class EventStream:
    """One open stream: catch up from the store, then sleep until woken."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        services: Services,
        collection: Collection,
        principal: Principal,
        flt: ObjectFilter,
        subscription: Subscription,
        cursor: int,
        connected_head: int,
    ) -> None:
        settings = request.app[SETTINGS]
        self.request = request
        self.response = response
        self.services = services
        self.collection = collection
        self.principal = principal
        self.reader = services.read.reader(principal, collection)
        self.flt = flt
        self.subscription = subscription
        self.cursor = cursor  # the last event sent (or the start position)
        self.scanned = cursor  # nothing readable at or below this seq is unsent
        self.connected_head = connected_head
        self.batch = settings.default_page_size
        self.queue_limit = settings.stream_queue_limit
        self.heartbeat = settings.stream_heartbeat_seconds
        self.cursors = services.read.cursors
        self.scope = stream_scope(collection, principal)
        self.loop = asyncio.get_running_loop()
        self.last_write = self.loop.time()

    def event_id(self, seq: int) -> str:
        return self.cursors.encode_event(self.scope, seq)

    def _gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def _write(self, data: bytes, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self.response.write(data), timeout or WRITE_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise _Stalled from exc
        self.last_write = self.loop.time()

    async def _still_allowed(self) -> bool:
        """Suspension, a revoked or an expired token end the stream before its next event:
        asked of the database before every write of events (identical concurrent checks of
        many streams are merged into one query)."""
        if self.principal.member is None:
            return True
        authorization = self.request.headers.get("Authorization")
        try:
            fresh = await self.services.coalescer.run(
                ("principal", authorization),
                lambda: self.services.auth.principal(authorization),
            )
            self.reader = self.services.read.reader(fresh, self.collection)
        except NotAuthenticated:
            return False
        self.principal = fresh
        return True

    async def _catch_up(self) -> str | None:
        """Send everything readable after the cursor; a reason to stop, or None."""
        read = self.services.read
        ledger = self.services.read.ledger
        while True:
            coalescer = self.services.coalescer
            # committed before the read below starts
            head: int = await coalescer.run("head", read.head)
            query = ReadQuery(
                collection=self.collection.alias,
                filter=self.flt,
                after_seq=self.cursor,
                limit=self.batch,
            )
            reader = self.reader
            page: Page = await coalescer.run(
                ("page", reader, query, head),
                functools.partial(read.stream_page, reader, query),
            )
            if page.objects:
                if not await self._still_allowed():
                    return "the credentials of this stream are no longer valid"
                last = page.objects[-1].seq
                try:
                    await self._write(
                        b"".join(encode_event(o, self.event_id(o.seq)) for o in page.objects)
                    )
                finally:
                    self.cursor = last  # written to the transport, delivered or not
                if ledger is not None and self.principal.member is not None:
                    ledger.record(self.principal.member, page.objects)
            if not page.more:
                self.scanned = max(self.cursor, head)
                return None
            if self.subscription.closed:
                return "the server is shutting down"
            if self._gone():
                return None
            behind = head - max(self.cursor, self.connected_head)
            if behind > self.queue_limit:
                return (
                    f"fell more than {self.queue_limit} objects behind;"
                    " reconnect with Last-Event-ID"
                )

    async def run(self) -> None:
        try:
            reason = await self._serve()
        except _Stalled:
            reason = f"a write to the client took longer than {WRITE_TIMEOUT_SECONDS:g} s"
        except StoreUnavailable:
            log.warning("event stream: the database is unavailable", exc_info=True)
            reason = "the database is unavailable for a moment"
        if reason is not None:
            await self._finish(reason)

    async def _serve(self) -> str | None:
        """Stream until the client goes away (None) or there is a reason to end."""
        woke = True
        while not self._gone():
            if self.subscription.closed:
                return "the server is shutting down"
            if woke:
                reason = await self._catch_up()
                if reason is not None:
                    return reason
            idle = self.loop.time() - self.last_write
            if idle >= self.heartbeat:
                await self._write(HEARTBEAT)
                idle = 0.0
            # wake at least once a second to notice a client that went away
            woke = await self.subscription.wait(self.scanned, min(self.heartbeat - idle, 1.0))
        return None

    async def _finish(self, reason: str) -> None:
        """The last words: ``event: resume`` with the cursor to reconnect from."""
        with contextlib.suppress(_Stalled, ConnectionError, RuntimeError):
            await self._write(
                encode_resume(reason, self.event_id(self.cursor)), CLOSE_TIMEOUT_SECONDS
            )
            return
        self._abort()

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


def _headers(request: web.Request) -> Mapping[str, str]:
    headers = {
        "Content-Type": EVENT_STREAM,
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    request_id = request.get(REQUEST_ID)
    if isinstance(request_id, str):
        headers["X-Request-ID"] = request_id
    return headers


@routes.get(API_ROOT + "collections/{collection}/events/", allow_head=False)
async def events(request: web.Request) -> web.StreamResponse:
    if not accepts_event_stream(request.headers.get("Accept")):
        raise NotAcceptable(
            f"cannot answer with {request.headers.get('Accept')!r}: events are {EVENT_STREAM}"
        )
    collection = find_collection(request.match_info["collection"])
    services = request.app[SERVICES]
    principal = principal_of(request)
    services.read.reader(principal, collection)  # 401 before anything is sent
    flt = _filter(request)
    start, resumed = _start_cursor(
        request, services.read.cursors, stream_scope(collection, principal)
    )
    notifier = services.notifier
    if notifier is None:
        raise StoreUnavailable("event streams are not running")
    metrics = request.app.get(METRICS)
    with (
        notifier.subscribe() as subscription,  # before the head is read: nothing slips by
        metrics.stream_subscriber() if metrics is not None else contextlib.nullcontext(),
    ):
        head = await services.read.head()
        cursor = head if start is None else start
        response = web.StreamResponse(status=200, headers=_headers(request))
        await response.prepare(request)
        stream = EventStream(
            request, response, services, collection, principal, flt, subscription, cursor, head
        )
        try:
            preamble = f"retry: {RETRY_MILLISECONDS}\n"
            if not resumed:
                preamble += f"id: {stream.event_id(cursor)}\n"
            await stream._write((preamble + "\n").encode())
            await stream.run()
        except (ConnectionError, _Stalled):
            stream._abort()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event stream failed", collection=collection.alias)
            stream._abort()
        if not stream._gone():
            try:
                await asyncio.wait_for(response.write_eof(), CLOSE_TIMEOUT_SECONDS)
            except (TimeoutError, ConnectionError, RuntimeError):
                stream._abort()
    return response


async def close_streams(app: web.Application) -> None:
    """on_shutdown: every open stream sends ``event: resume`` and ends."""
    services = app.get(SERVICES)
    if services is not None and services.notifier is not None:
        services.notifier.close_subscribers()
