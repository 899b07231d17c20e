"""Hostile clients, below HTTP: a read timeout for request headers, an idle (keep-alive)
timeout, and a cap on open connections per client address; and the sites that listen with
them (the API port, and a separate metrics port when configured).

aiohttp reads the headers and bodies; this wraps each of its connection protocols:

- **headers**: a request's line and headers must arrive within ``header_timeout_seconds`` of
  its first byte (or of the connection opening); else the connection is closed. A client
  sending half its headers is cut off.
- **idle**: aiohttp's keep-alive timeout (``idle_timeout_seconds``) closes a connection that
  waits for its next request that long.
- **per address**: more than ``max_connections_per_address`` open connections from one
  address are answered 503 and closed at once, so a few hundred idle sockets from one place
  cannot use up the server (0 turns the cap off).

The body's read timeout (``body_timeout_seconds``) is the ``read_body`` middleware's
(exchange.web.middleware): it answers 408.
"""

from __future__ import annotations

import asyncio
import ssl

import orjson
import structlog
from aiohttp import web

from exchange.config import Settings
from exchange.taxii.media import TAXII
from exchange.web.security import tls_context

log = structlog.get_logger("exchange.connections")


def _refusal(status: int, reason: str, title: str, description: str) -> bytes:
    body = orjson.dumps({"title": title, "description": description, "http_status": str(status)})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {TAXII}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
    )
    return head.encode("ascii") + body


TOO_MANY = _refusal(
    503,
    "Service Unavailable",
    "Too many connections",
    "too many open connections from this address; close some and retry",
)


class ConnectionGuard:
    """The limits, and the open connections per address, of one listening process."""

    def __init__(self, header_timeout: float, max_per_address: int) -> None:
        self.header_timeout = header_timeout
        self.max_per_address = max_per_address
        self.open: dict[str, int] = {}

    def wrap(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _GuardedProtocol(self, inner)

    def admit(self, address: str) -> bool:
        count = self.open.get(address, 0)
        if self.max_per_address and count >= self.max_per_address:
            return False
        self.open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self.open.get(address, 0) - 1
        if count > 0:
            self.open[address] = count
        else:
            self.open.pop(address, None)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the header timer and the address count."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.address: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.seen_requests = 0

    # --- what aiohttp's protocol knows ----------------------------------------------------------

    def _requests(self) -> int:
        return int(getattr(self.inner, "_request_count", 0))

    def _busy(self) -> bool:
        return bool(getattr(self.inner, "_request_in_progress", False))

    # --- the header timer -------------------------------------------------------------------

    def _arm(self) -> None:
        if self.timer is None and self.transport is not None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.guard.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _headers_too_slow(self) -> None:
        self.timer = None
        if self.transport is None or self._requests() > self.seen_requests:
            return
        log.warning(
            "connection closed: request headers too slow",
            client=self.address,
            seconds=self.guard.header_timeout,
        )
        self.transport.abort()

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self.guard.admit(address):
            log.warning(
                "connection refused: too many from one address",
                client=address,
                limit=self.guard.max_per_address,
            )
            transport.write(TOO_MANY)
            transport.close()
            return
        self.address = address
        self.transport = transport
        self.inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self._busy() and self._requests() == self.seen_requests:
            self._arm()  # the first bytes of a new request: its headers are on the clock
        self.inner.data_received(data)
        if self._requests() > self.seen_requests:
            self.seen_requests = self._requests()
            self._disarm()

    def eof_received(self) -> bool | None:
        if self.transport is None:
            return None
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.transport is None:
            return
        self.transport = None
        if self.address is not None:
            self.guard.release(self.address)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through one ConnectionGuard."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        reuse_port: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float | None = None,
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port, ssl_context=ssl_context)
        self._guard = guard
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        guard = self._guard
        created = await asyncio.get_running_loop().create_server(
            lambda: guard.wrap(server()),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
            ssl=self._ssl_context,
            # a TLS handshake is on the same clock as the headers it comes before
            ssl_handshake_timeout=self._handshake_timeout if self._ssl_context else None,
        )
        self._server = created
        self._bound_port = int(created.sockets[0].getsockname()[1])


async def start_sites(
    app: web.Application, settings: Settings, *, reuse_port: bool = False
) -> tuple[web.AppRunner, list[GuardedSite]]:
    """Run ``app`` on the API address, and on the metrics address when one is configured,
    with the connection limits of ``settings``. Stop it with ``runner.cleanup()``."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=settings.idle_timeout_seconds,
    )
    await runner.setup()
    guard = ConnectionGuard(settings.header_timeout_seconds, settings.max_connections_per_address)
    context = tls_context(settings)

    def make_site(host: str, port: int) -> GuardedSite:
        return GuardedSite(
            runner,
            host,
            port,
            guard,
            reuse_port=reuse_port,
            ssl_context=context,
            handshake_timeout=settings.header_timeout_seconds,
        )

    sites = [make_site(settings.host, settings.port)]
    if settings.metrics_port is not None:
        sites.append(make_site(settings.metrics_host, settings.metrics_port))
    try:
        for site in sites:
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, sites
