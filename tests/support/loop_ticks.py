"""Counting event-loop turns: how often awaited work gave the loop back to other tasks."""

from __future__ import annotations

import asyncio


class LoopTicks:
    """`async with LoopTicks() as ticks:` runs a task that counts one tick per loop turn
    (`ticks.count`) until the block ends."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
