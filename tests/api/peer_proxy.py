"""A hostile peer for federation tests: an HTTP proxy in front of an honest exchange that
hands every answer to a rewrite function before the importer sees it (the operator of the
peer turned hostile, or a network in between that is)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from tests.conftest import LiveServer, free_port

HOP_BY_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection"}


@dataclass
class Answer:
    """One answer of the honest exchange, for a rewrite to change in place."""

    method: str
    path: str  # with the query
    status: int
    body: bytes
    headers: dict[str, str]


Rewrite = Callable[[Answer], None]


class RewritingProxy:
    """Forwards everything to ``upstream`` but its event stream (so the importer polls),
    passing each answer through ``rewrite``."""

    def __init__(self, upstream: LiveServer, rewrite: Rewrite) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/events/"):
            return web.Response(status=404)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                self.upstream.url + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as r,
        ):
            answer = Answer(
                method=request.method,
                path=request.path_qs,
                status=r.status,
                body=await r.read(),
                headers={k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP},
            )
        self.rewrite(answer)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    def start(self) -> None:
        self.thread.start()

        async def go() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app, shutdown_timeout=1)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)

    def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(30)
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()
