"""`AnswerCache`: one fetch in flight per key, answers and failures kept for `ttl`, bounded."""

from __future__ import annotations

import asyncio

import pytest

from exporter.metrics_api.providers.base import Unavailable
from exporter.metrics_api.providers.coalesce import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts calls; each call waits for `release` so callers overlap."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: str | None = None

    async def fetch(self) -> list[int]:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise Unavailable(self.fail)
        return [self.calls]


async def test_concurrent_callers_share_one_fetch_even_without_a_ttl():
    cache, src = AnswerCache(0.0), Source()
    waiters = [asyncio.create_task(cache.get("q", src.fetch)) for _ in range(10)]
    await asyncio.sleep(0)
    src.release.set()
    assert await asyncio.gather(*waiters) == [[1]] * 10
    assert src.calls == 1 and cache.fetches == 1
    assert await cache.get("q", src.fetch) == [2]  # ttl 0: nothing kept afterwards


async def test_answers_and_failures_are_kept_for_the_ttl():
    clock, src = Clock(), Source()
    cache = AnswerCache(5.0, clock=clock)
    src.release.set()
    assert await cache.get("q", src.fetch) == [1]
    clock.now += 4.9
    assert await cache.get("q", src.fetch) == [1]
    assert await cache.get("other", src.fetch) == [2]  # per key
    clock.now += 0.1  # 5 s old: expired
    src.fail = "Prometheus query failed: ConnectError"
    for _ in range(3):  # a failing source is asked once per ttl, not once per caller
        with pytest.raises(Unavailable, match="ConnectError"):
            await cache.get("q", src.fetch)
    assert src.calls == 3
    clock.now -= 60  # a clock stepped back does not make an answer live longer
    src.fail = None
    assert await cache.get("q", src.fetch) == [4]


async def test_a_cancelled_waiter_does_not_cancel_the_others():
    cache, src = AnswerCache(1.0), Source()
    first = asyncio.create_task(cache.get("q", src.fetch))
    second = asyncio.create_task(cache.get("q", src.fetch))
    await asyncio.sleep(0)
    first.cancel()
    src.release.set()
    assert await second == [1]
    assert first.cancelled() and src.calls == 1


async def test_bugs_are_not_cached_and_the_key_count_is_bounded():
    clock = Clock()
    cache = AnswerCache(60.0, max_keys=3, clock=clock)
    calls = 0

    async def broken() -> list[int]:
        nonlocal calls
        calls += 1
        raise KeyError("a bug")

    for _ in range(2):
        with pytest.raises(KeyError):
            await cache.get("q", broken)
    assert calls == 2

    async def value() -> list[int]:
        return [1]

    for i in range(10):
        await cache.get(f"selector-{i}", value)
        clock.now += 1
    assert len(cache._done) == 3  # the newest three; client selectors cannot grow it
    assert set(cache._done) == {"selector-7", "selector-8", "selector-9"}
