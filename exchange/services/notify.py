"""Wake-ups for the event streams: "new objects may exist up to seq N".

A notifier carries no objects, only hints. Every stream reads what it delivers
from the store itself (``Store.read_objects``, sharing rules in the query), at its
own pace, so a notifier never holds a queue and a slow subscriber never slows
ingest or anyone else. A lost or spurious wake-up costs at most one extra read.

Three sources of wake-ups, all feeding the same subscribers:

- ``publish(latest_seq)``: called by the PublishService listener of this process
  after each durable insert; wakes local subscribers at once.
- PostgreSQL only: ``LISTEN exchange_objects`` on a dedicated asyncpg connection
  (payload: the latest seq, sent by ``publish`` with ``pg_notify`` after the commit),
  so an object stored by any worker wakes the streams of every worker. The
  connection is re-made with backoff when it drops; on reconnect every subscriber
  is woken once, in case a notification was missed meanwhile.
- A poll of ``Store.objects.latest_seq()`` every ``stream_poll_seconds`` (only while some
  stream is open), so writers that do not notify (the admin CLI, another SQLite
  worker, a lost NOTIFY) are seen too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

from exchange.models import InsertResult
from exchange.store.base import Store

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel

CHANNEL = "exchange_objects"

log = structlog.get_logger("exchange.notify")


class Subscription:
    """One stream's wake-up flag. ``wait(after, timeout)`` returns True once some seq
    greater than ``after`` may have been committed (or the notifier is shutting down)."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._event = asyncio.Event()
        self._after = -1
        self.closed = False

    def offer(self, seq: int | None) -> None:
        """A hint that objects up to ``seq`` exist (None: anything may have changed)."""
        if seq is None or seq > self._after:
            self._event.set()

    def close(self) -> None:
        """Ask the stream to end (server shutdown); wakes it."""
        self.closed = True
        self._event.set()

    async def wait(self, after: int, timeout: float) -> bool:
        """Sleep until a hint beyond ``after`` arrives or ``timeout`` passes.
        A hint that arrived while the caller was busy is not lost."""
        self._after = after
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        woke = self._event.is_set()
        self._event.clear()
        if self.closed:
            self._event.set()  # stays woken
        return woke

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._notifier.unsubscribe(self)


class Notifier:
    """In-process notifier (SQLite, or the base of the PostgreSQL one)."""

    def __init__(self, store: Store, poll_seconds: float) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._subscribers: set[Subscription] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._polled: int | None = None
        self._stopping = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._stopping = False
        self._polled = await self.store.objects.latest_seq()
        self._poll_task = asyncio.create_task(self._poll(), name="exchange-notify-poll")

    async def stop(self) -> None:
        self._stopping = True
        self.close_subscribers()
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
            self._poll_task = None

    async def publish(self, latest_seq: int) -> None:
        """Objects up to ``latest_seq`` are committed (called after each durable insert)."""
        self.wake(latest_seq)

    async def on_insert(self, results: list[InsertResult]) -> None:
        """A ``PublishService`` listener."""
        seqs = [r.seq for r in results if r.seq is not None]
        if seqs:
            await self.publish(max(seqs))

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        if self._stopping:
            subscription.close()
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def wake(self, seq: int | None) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(seq)

    def close_subscribers(self) -> None:
        """Ask every open stream to end (server shutdown)."""
        self._stopping = True
        for subscription in list(self._subscribers):
            subscription.close()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self._subscribers:
                continue
            try:
                latest = await self.store.objects.latest_seq()
            except Exception as exc:  # the store is down for a moment: try again next time
                log.warning("stream poll failed", error=str(exc))
                continue
            if latest != self._polled:
                self._polled = latest
                self.wake(latest)


class PgNotifier(Notifier):
    """PostgreSQL LISTEN/NOTIFY on ``exchange_objects``, payload = the latest seq."""

    def __init__(self, store: Store, channel: PgChannel, poll_seconds: float) -> None:
        super().__init__(store, poll_seconds)
        self.channel = channel
        self._listen_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> asyncio.Event:
        return self.channel.connected

    @property
    def reconnects(self) -> int:
        return self.channel.reconnects

    @property
    def listener_pid(self) -> int | None:
        """The server process id of the LISTEN connection (None while disconnected)."""
        return self.channel.listener_pid

    async def start(self) -> None:
        await super().start()
        self._listen_task = asyncio.create_task(
            self.channel.run(self._on_payload), name="exchange-notify-listen"
        )

    async def stop(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task
            self._listen_task = None
        await super().stop()

    async def publish(self, latest_seq: int) -> None:
        self.wake(latest_seq)
        await self.channel.notify(str(latest_seq))

    def _on_payload(self, payload: str | None) -> None:
        try:
            seq: int | None = int(payload) if payload is not None else None
        except ValueError:
            seq = None
        self.wake(seq)


def make_notifier(store: Store, poll_seconds: float) -> Notifier:
    """PostgreSQL LISTEN/NOTIFY for a PostgreSQL store, else in-process."""
    channel = store.notification_channel(CHANNEL)
    if channel is not None:
        return PgNotifier(store, channel, poll_seconds)
    return Notifier(store, poll_seconds)
