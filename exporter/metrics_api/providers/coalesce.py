"""One query in flight per key, and its answer kept for a freshness interval.

The process has one metrics provider serving three callers (the metrics APIs, the status
board, the KEDA scaler) that ask for the same values. `AnswerCache.get(key, fetch)` runs
`fetch()` once for concurrent callers of the same key (the query text) and hands every caller
the same answer; with `ttl > 0` the answer, or the `Unavailable` it raised, is reused for
`ttl` seconds, so Prometheus sees at most one query per distinct query per interval however
many callers ask. A failure is cached too: a failing Prometheus is not asked three times as
often as a working one.

Bounded: keys come from request selectors, so at most `max_keys` answers are kept (expired
ones go first, then the oldest). A caller cancelled while waiting does not cancel the fetch
the others wait on. Errors other than `Unavailable` are not cached (they are bugs, raised to
every waiting caller).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .base import Unavailable

T = TypeVar("T")
MAX_KEYS = 1024


class AnswerCache(Generic[T]):
    def __init__(
        self,
        ttl: float,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self.clock = clock
        self._done: dict[str, tuple[float, T | Unavailable]] = {}
        self._flight: dict[str, asyncio.Future[T]] = {}
        self.fetches = 0  # how many times `fetch` ran (what the source was asked)

    async def get(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """The answer for `key`: cached if younger than `ttl`, else one shared `fetch()`."""
        hit = self._done.get(key)
        # 0 <= age: a clock stepped back does not keep an answer longer than `ttl`
        if hit is not None and 0 <= self.clock() - hit[0] < self.ttl:
            return _unwrap(hit[1])
        task = self._flight.get(key)
        if task is None:
            self.fetches += 1
            task = asyncio.ensure_future(fetch())
            self._flight[key] = task
            task.add_done_callback(lambda t, k=key: self._finish(k, t))
        try:
            # shield: one waiter going away (a client disconnect) must not cancel the others'
            return await asyncio.shield(task)
        except Unavailable as exc:
            raise Unavailable(exc.message, exc.details) from None  # a fresh one per caller

    def _finish(self, key: str, task: asyncio.Future[T]) -> None:
        self._flight.pop(key, None)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so no "never retrieved" warning
        if self.ttl <= 0 or (exc is not None and not isinstance(exc, Unavailable)):
            return
        now = self.clock()
        self._done.pop(key, None)  # re-inserted last: eviction goes oldest first
        self._done[key] = (now, exc if isinstance(exc, Unavailable) else task.result())
        if len(self._done) > self.max_keys:
            self._prune(now)

    def _prune(self, now: float) -> None:
        for k in [k for k, (at, _) in self._done.items() if not 0 <= now - at < self.ttl]:
            del self._done[k]
        while len(self._done) > self.max_keys:
            del self._done[next(iter(self._done))]  # insertion order: the oldest first


def _unwrap(answer):
    if isinstance(answer, Unavailable):
        raise Unavailable(answer.message, answer.details)  # a fresh one per caller
    return answer
