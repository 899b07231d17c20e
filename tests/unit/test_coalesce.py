"""Identical concurrent reads are asked once; nothing is kept after the answer."""

from __future__ import annotations

import asyncio

from exchange.services.coalesce import Coalescer


async def test_identical_questions_are_asked_once() -> None:
    coalescer = Coalescer()
    asked = 0

    async def ask() -> int:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0.01)
        return 42

    answers = await asyncio.gather(*(coalescer.run("q", ask) for _ in range(100)))
    assert answers == [42] * 100
    assert asked == 1
    assert await coalescer.run("q", ask) == 42
    assert asked == 2  # a later question is asked again


async def test_one_waiter_leaving_does_not_cancel_the_others() -> None:
    coalescer = Coalescer()

    async def ask() -> str:
        await asyncio.sleep(0.05)
        return "answer"

    first = asyncio.ensure_future(coalescer.run("q", ask))
    second = asyncio.ensure_future(coalescer.run("q", ask))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "answer"
