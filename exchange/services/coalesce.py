"""Coalescing identical concurrent reads.

When one new object wakes a thousand event streams, most of them ask the store the
same questions at the same moment: the head of the log, the page after the same
cursor for the same member, whether the same token still works. Each distinct
question is asked once; every caller waiting on it gets the same answer. Nothing is
kept after the answer arrives, so no caller ever sees an answer older than its
question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class Coalescer:
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, ask: Callable[[], Awaitable[Any]]) -> Any:
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(ask())
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(key, None))
        # shield: one caller going away must not cancel the answer the others wait for
        return await asyncio.shield(pending)
