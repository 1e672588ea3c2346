"""Depth and age of every queue on one Redis target, in one pipelined round trip per cycle.

Each queue is one command in a non-transactional pipeline:
- `redis_list`: LLEN. A list holds no enqueue time, so age is reported only when the
  queue names `age_field` (a JSON field of the payload); then a script returns LLEN and
  the oldest job (the tail for LPUSH producers, the head for RPUSH ones).
- `redis_zset` (scheduled jobs, score = due time): a script returns ZCOUNT -inf..now (the
  depth: jobs ready to run), ZCARD (all scheduled jobs) and the lowest score, i.e. how
  long the oldest ready job has been due.
- `redis_stream` read by a consumer group: a script returns the group's lag and
  pending count (XINFO GROUPS) and the id of the oldest outstanding entry (the oldest
  pending one from XPENDING, else the first one after last-delivered-id); the age comes
  from that id's millisecond part (auto-generated ids). Depth is the lag: entries no
  consumer has taken yet; pending ones are reported apart.
(The scripts live in `scripts.py`; one command per queue keeps 1000 queues cheap.)

The pipeline runs with raise_on_error=False, so a WRONGTYPE reply is that queue's fault
(`queue_up 0`, logged once) while the other queues report normally. A missing key is an
empty queue. A dead or hung Redis raises, and the runtime marks the collector down and
leaves the queue values stale (`queue_up 0`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from exporter import catalog
from exporter.collectors.credentials import is_auth_error
from exporter.collectors.queues.common import (
    QueueError,
    QueueHealth,
    QueueRef,
    QueueTargetCollector,
    up,
)
from exporter.collectors.queues.scripts import SCRIPTS, STREAM_LAG_COUNT_LIMIT
from exporter.collectors.queues.timestamps import field_from_json, stream_id_seconds, unix_seconds
from exporter.collectors.redis_endpoint import Endpoint
from exporter.config import RedisTarget
from exporter.snapshot import Sample

# Queues per pipeline: a round trip each, and the loop runs between them (see `_read`).
READ_CHUNK = 256


def script_for(ref: QueueRef) -> str | None:
    q = ref.queue
    if q.kind == "redis_zset":
        return "zset_scheduled"
    if q.kind == "redis_stream":
        return "stream"
    return "list_oldest" if q.age_field else None


class RedisQueuesCollector(QueueTargetCollector[RedisTarget]):
    """Every queue of one Redis target."""

    name = "redis_queues"

    def _setup(self) -> None:
        self.scripts_needed = sorted({s for r in self.queues if (s := script_for(r))})
        self._sha: dict[str, str] = {}
        # No per-reply timer: the runtime's timeout bounds the whole cycle, and a
        # timed-out cycle drops the connection below.
        self._endpoint = Endpoint(self.config, self.timeout, reply_timeout=False)
        self.health = QueueHealth(self.name, self.target)

    async def collect(self) -> Sequence[Sample]:
        client = await self._endpoint.client()
        try:
            now, results = await self._read(client)
            if any(isinstance(r, NoScriptError) for r in results):
                # Redis restarted or ran SCRIPT FLUSH: load the scripts again and re-read.
                self._sha.clear()
                now, results = await self._read(client)
            for reply in results:  # NOAUTH per command: the target's fault, not a queue's
                if is_auth_error(reply):
                    raise reply
        except BaseException as exc:
            # Drop sockets that may hold a half-read reply; the next cycle reconnects.
            await self._endpoint.drop(exc)
            self._sha.clear()
            raise
        out: list[Sample] = []
        for start in range(0, len(self.queues), READ_CHUNK):  # parsed a chunk per loop step
            refs = self.queues[start : start + READ_CHUNK]
            out += self.queue_samples(refs, now, results[start : start + READ_CHUNK])
            await asyncio.sleep(0)
        return out + self.health.skew_samples(self.queues)

    def assume_scripts_loaded(self) -> None:
        """Use the scripts' SHA1s without SCRIPT LOAD: the caller loads them on each node
        (a cluster) and handles NOSCRIPT itself."""
        self._sha = {n: hashlib.sha1(SCRIPTS[n].encode()).hexdigest() for n in self.scripts_needed}

    async def load_scripts(self, client: aioredis.Redis) -> dict[str, QueueError]:
        """SCRIPT LOAD what is not loaded yet; the scripts Redis refused, as errors."""
        refused: dict[str, QueueError] = {}
        for name in self.scripts_needed:
            if name not in self._sha:
                try:
                    self._sha[name] = await client.script_load(SCRIPTS[name])
                except ResponseError as exc:  # NOPERM from an ACL, scripting disabled
                    refused[name] = QueueError(
                        f"Redis refused SCRIPT LOAD ({exc}); this queue kind needs "
                        "+script|load and +evalsha for the exporter's user"
                    )
        return refused

    async def _read(self, client: aioredis.Redis) -> tuple[float, list[Any]]:
        """One reply per queue: the command's reply, an error reply, or a QueueError.

        One pipeline per `READ_CHUNK` queues: a round trip more per chunk, and the loop
        gets control back between them instead of packing and parsing 10,000 at once."""
        refused = await self.load_scripts(client)
        now = time.time()
        out: list[Any] = []
        for start in range(0, len(self.queues), READ_CHUNK):
            refs = self.queues[start : start + READ_CHUNK]
            pipe = client.pipeline(transaction=False)
            self.add_reads(pipe, refs, now, refused)
            replies = await pipe.execute(raise_on_error=False) if len(pipe) else []
            out += self.match_replies(refs, replies, refused)
        return now, out

    def add_reads(
        self, pipe: Any, refs: Sequence[QueueRef], now: float, refused: dict[str, QueueError]
    ) -> None:
        """One command per queue of `refs` (none for a queue whose script was refused)."""
        sha = self._sha
        for ref in refs:
            q = ref.queue
            script = script_for(ref)
            if script in refused:
                continue
            if q.kind == "redis_list":
                if q.age_field:
                    oldest = 0 if q.push == "rpush" else -1
                    pipe.evalsha(sha["list_oldest"], 1, q.key, oldest)
                else:
                    pipe.llen(q.key)
            elif q.kind == "redis_zset":
                scale = 1000.0 if q.score_unit == "milliseconds" else 1.0
                pipe.evalsha(sha["zset_scheduled"], 1, q.key, repr(now * scale))
            else:
                pipe.evalsha(sha["stream"], 1, q.key, q.group)

    @staticmethod
    def match_replies(
        refs: Sequence[QueueRef], replies: Sequence[Any], refused: dict[str, QueueError]
    ) -> list[Any]:
        """One result per queue of `refs`, from the replies `add_reads` asked for."""
        it = iter(replies)
        return [
            refused[script] if (script := script_for(ref)) in refused else next(it) for ref in refs
        ]

    def samples(self, refs: Sequence[QueueRef], now: float, results: list[Any]) -> list[Sample]:
        """Series of the queues `refs` (their results in the same order)."""
        return self.queue_samples(refs, now, results) + self.health.skew_samples(self.queues)

    def queue_samples(
        self, refs: Sequence[QueueRef], now: float, results: Sequence[Any]
    ) -> list[Sample]:
        """`samples` without the target-wide clock-skew series."""
        out: list[Sample] = []
        for ref, reply in zip(refs, results, strict=True):
            labels = ref.labels
            try:
                if isinstance(reply, QueueError):
                    raise reply
                if isinstance(reply, Exception):
                    raise QueueError(_error_text(ref, reply))
                out += _parse(ref, labels, reply, now, self.health)
            except QueueError as exc:
                self.health.failed(ref, str(exc))
                out.append(up(ref, 0))
                continue
            self.health.ok(ref)
            out.append(Sample(catalog.QUEUE_UP, labels, 1))
        return out

    async def close(self) -> None:
        await self._endpoint.close()


_KEY_TYPE = {"redis_list": "list", "redis_zset": "sorted set", "redis_stream": "stream"}


def _error_text(ref: QueueRef, reply: Exception) -> str:
    text = str(reply) if isinstance(reply, ResponseError) else f"{type(reply).__name__}: {reply}"
    if text.startswith("WRONGTYPE Operation"):  # plain LLEN's wording does not say which type
        text += f" (expected a {_KEY_TYPE[ref.queue.kind]})"
    return f"key {ref.queue.key!r}: {text}"


def _parse(
    ref: QueueRef, labels: dict[str, str], reply: Any, now: float, health: QueueHealth
) -> list[Sample]:
    q = ref.queue
    if q.kind == "redis_list":
        if not q.age_field:
            return [Sample(catalog.QUEUE_DEPTH, labels, reply)]
        depth, oldest = reply
        out = [Sample(catalog.QUEUE_DEPTH, labels, depth)]
        age = _list_age(ref, oldest, now, health)
        if age is not None:
            out.append(Sample(catalog.QUEUE_OLDEST_AGE, labels, age))
        return out
    if q.kind == "redis_zset":
        ready, total, lowest = reply
        age = 0.0
        if lowest is not None:
            due = float(lowest) / (1000.0 if q.score_unit == "milliseconds" else 1.0)
            age = _checked_age(health, ref, now, due, future_is_skew=False)
        out = [
            Sample(catalog.QUEUE_DEPTH, labels, ready),
            Sample(catalog.QUEUE_SCHEDULED, labels, total),
        ]
        return out if age is None else [*out, Sample(catalog.QUEUE_OLDEST_AGE, labels, age)]
    lag, pending, oldest_id = reply
    age = _checked_age(health, ref, now, stream_id_seconds(oldest_id)) if oldest_id else 0.0
    out = [Sample(catalog.QUEUE_STREAM_PENDING, labels, pending)]
    if age is not None:
        out.append(Sample(catalog.QUEUE_OLDEST_AGE, labels, age))
    if lag is None:
        health.failed(
            ref,
            f"the group's lag is unknown to Redis (group created at an arbitrary id, entries "
            f"deleted after its position, or Redis < 7) and more than "
            f"{STREAM_LAG_COUNT_LIMIT} entries follow its position: queue_depth and "
            "queue_stream_lag are left out",
            what="lag",
        )
    else:
        health.ok(ref, what="lag")
        out += [
            Sample(catalog.QUEUE_DEPTH, labels, lag),
            Sample(catalog.QUEUE_STREAM_LAG, labels, lag),
        ]
    return out


def _list_age(ref: QueueRef, payload: Any, now: float, health: QueueHealth) -> float | None:
    """Age of the oldest job from its payload; None (and a log line once) when unreadable."""
    if payload is None:
        health.ok(ref, what="age")
        return 0.0  # an empty list
    try:
        ts = unix_seconds(field_from_json(payload, ref.queue.age_field or ""))
        age = health.age(ref, now, ts)
    except ValueError as exc:
        health.failed(ref, f"cannot read the oldest job's age: {exc}", what="age")
        return None
    health.ok(ref, what="age")
    return age


def _checked_age(
    health: QueueHealth, ref: QueueRef, now: float, enqueued: float, future_is_skew: bool = True
) -> float | None:
    """A zset's or stream's oldest age; None (the age left out, logged once) for a time that
    is no plausible enqueue time (an explicit stream id such as `1-0`, a garbage score)."""
    try:
        age = health.age(ref, now, enqueued, future_is_skew)
    except ValueError as exc:
        health.failed(ref, f"cannot read the oldest job's age: {exc}", what="age")
        return None
    health.ok(ref, what="age")
    return age
