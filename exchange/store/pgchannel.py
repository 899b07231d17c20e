"""PostgreSQL LISTEN/NOTIFY on one channel: the store-side half of the stream wake-ups.

``notify`` sends a payload through the store's pool after a commit; ``run`` keeps one
dedicated LISTEN connection open, re-made with backoff when it drops, and hands every
payload (and every reconnect, as ``None``: something may have been missed) to a callback.
Nothing above the store floor talks to asyncpg.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from exchange.store.postgres import PostgresStore

LISTEN_APPLICATION_NAME = "exchange-notify"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
NOTIFY_TIMEOUT = 5.0

log = structlog.get_logger("exchange.notify")


class PgChannel:
    def __init__(self, store: PostgresStore, channel: str) -> None:
        self.store = store
        self.channel = channel
        self._conn: Any = None
        self.connected = asyncio.Event()
        self.reconnects = 0

    @property
    def listener_pid(self) -> int | None:
        """The server process id of the LISTEN connection (None while disconnected)."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        pid: int = conn.get_server_pid()
        return pid

    async def notify(self, payload: str) -> None:
        """Send ``payload``; a failure is logged (other workers fall back to their poll)."""
        pool = self.store.raw_pool()
        if pool is None:
            return
        try:
            await asyncio.wait_for(
                pool.execute("SELECT pg_notify($1, $2)", self.channel, payload), NOTIFY_TIMEOUT
            )
        except Exception as exc:
            log.warning("NOTIFY failed", error=str(exc))

    async def run(self, on_payload: Callable[[str | None], None]) -> None:
        """LISTEN until cancelled; ``on_payload(None)`` after every (re)connect and loss."""

        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            on_payload(payload)

        delay = BACKOFF_FIRST
        while True:
            lost = asyncio.Event()
            conn: Any = None
            try:
                conn = await asyncpg.connect(
                    self.store.url,
                    timeout=10,
                    server_settings={"application_name": LISTEN_APPLICATION_NAME},
                )
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self.channel, received)
                self._conn = conn
                self.connected.set()
                delay = BACKOFF_FIRST
                on_payload(None)  # something may have been missed while we were away
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection failed", error=str(exc), retry_in=delay)
            finally:
                self.connected.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
                    if not conn.is_closed():
                        conn.terminate()
            self.reconnects += 1
            on_payload(None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
