"""Depth and age of every queue on one Redis target, in one pipelined round trip per cycle.

Per kind:
- `redis_list`: LLEN. A list holds no enqueue time, so age is reported only when the
  queue names `age_field` (a JSON field of the payload); then LINDEX reads the oldest job
  (the tail for LPUSH producers, the head for RPUSH ones).
- `redis_zset` (scheduled jobs, score = due time): ZCOUNT -inf..now is the depth (ready
  jobs), ZCARD all scheduled jobs, and the lowest score how long the oldest ready job
  has been due.
- `redis_stream` read by a consumer group: a small Lua script returns XLEN, the group's
  lag and pending count (XINFO GROUPS) and the id of the oldest outstanding entry (the
  oldest pending one from XPENDING, else the first one after last-delivered-id); the age
  comes from that id's millisecond part. Depth is the lag: entries no consumer has taken.

The pipeline runs with raise_on_error=False, so a WRONGTYPE reply is that queue's fault
(`queue_up 0`, logged once) while the other queues report normally. A missing key is an
empty queue. A dead or hung Redis raises, and the runtime marks the collector down and
leaves the queue values stale.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from exporter import catalog
from exporter.collectors.queues.common import (
    QueueError,
    QueueHealth,
    QueueRef,
    failure_samples,
    up,
)
from exporter.collectors.queues.timestamps import field_from_json, stream_id_seconds, unix_seconds
from exporter.collectors.redis import connect
from exporter.config import RedisTarget
from exporter.runtime import Collector
from exporter.snapshot import Sample

# KEYS[1] the stream, ARGV[1] the group -> {length, lag or nil, pending, oldest id or ""}.
# One script call per stream keeps the "oldest undelivered entry" (which needs the group's
# last-delivered-id first) inside the same round trip as everything else.
STREAM_SCRIPT = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {0, 0, 0, ''} end
if t ~= 'stream' then
  return redis.error_reply('WRONGTYPE the key holds a ' .. t .. ', not a stream')
end
local group = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then group = info break end
end
if group == nil then
  return redis.error_reply('NOGROUP the stream has no consumer group ' .. ARGV[1])
end
local oldest = ''
if group['pending'] > 0 then
  oldest = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
else
  local nxt = redis.call('XRANGE', KEYS[1], '(' .. group['last-delivered-id'], '+', 'COUNT', 1)
  if #nxt > 0 then oldest = nxt[1][1] end
end
local lag = group['lag']
if lag == nil then lag = false end -- Redis < 7, or a lag Redis cannot tell (after XDEL)
return {redis.call('XLEN', KEYS[1]), lag, group['pending'], oldest}
"""

_KEY_TYPE = {"redis_list": "list", "redis_zset": "sorted set", "redis_stream": "stream"}


class RedisQueuesCollector(Collector):
    """Every queue of one Redis target."""

    name = "redis_queues"

    def __init__(
        self, target: RedisTarget, queues: Sequence[QueueRef], interval: float, timeout: float
    ) -> None:
        super().__init__(interval, timeout)
        self.config = target
        self.target = target.name
        self.queues = list(queues)
        self._client: aioredis.Redis | None = None
        self._script_sha: str | None = None
        self._has_streams = any(r.queue.kind == "redis_stream" for r in self.queues)
        self.health = QueueHealth(self.name, target.name)

    async def collect(self) -> Sequence[Sample]:
        if self._client is None:
            self._client = connect(self.config, self.timeout)
        try:
            now, results = await self._read(self._client)
            if any(isinstance(r, NoScriptError) for r in results):
                # Redis restarted or ran SCRIPT FLUSH: load the script again and re-read.
                self._script_sha = None
                now, results = await self._read(self._client)
        except BaseException:
            # Drop sockets that may hold a half-read reply; the next cycle reconnects.
            await self._client.connection_pool.disconnect(inuse_connections=True)
            self._script_sha = None
            raise
        return self._samples(now, results)

    async def _read(self, client: aioredis.Redis) -> tuple[float, list[Any]]:
        if self._has_streams and self._script_sha is None:
            self._script_sha = await client.script_load(STREAM_SCRIPT)
        now = time.time()
        pipe = client.pipeline(transaction=False)
        for ref in self.queues:
            self._queue_commands(pipe, ref, now)
        return now, await pipe.execute(raise_on_error=False)

    def _queue_commands(self, pipe: Any, ref: QueueRef, now: float) -> None:
        q = ref.queue
        if q.kind == "redis_list":
            pipe.llen(q.key)
            if q.age_field:
                pipe.lindex(q.key, 0 if q.push == "rpush" else -1)
        elif q.kind == "redis_zset":
            pipe.zcount(q.key, "-inf", now * _score_scale(q.score_unit))
            pipe.zcard(q.key)
            pipe.zrange(q.key, 0, 0, withscores=True)
        else:
            pipe.evalsha(self._script_sha, 1, q.key, q.group)

    def _samples(self, now: float, results: list[Any]) -> list[Sample]:
        out: list[Sample] = []
        pos = 0
        for ref in self.queues:
            n = _command_count(ref)
            replies = results[pos : pos + n]
            pos += n
            try:
                out += _parse(ref, replies, now, self.health)
            except QueueError as exc:
                self.health.failed(ref, str(exc))
                out.append(up(ref, 0))
                continue
            self.health.ok(ref)
            out.append(up(ref, 1))
        return out

    def failure_samples(self) -> Sequence[Sample]:
        return failure_samples(self.queues)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _score_scale(unit: str | None) -> float:
    return 1000.0 if unit == "milliseconds" else 1.0


def _command_count(ref: QueueRef) -> int:
    q = ref.queue
    if q.kind == "redis_list":
        return 2 if q.age_field else 1
    return 3 if q.kind == "redis_zset" else 1


def _check(ref: QueueRef, replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, ResponseError):
            text = str(reply)
            if text.startswith("WRONGTYPE") and "not a stream" not in text:
                text = f"{text} (expected a {_KEY_TYPE[ref.queue.kind]})"
            raise QueueError(f"key {ref.queue.key!r}: {text}")
        if isinstance(reply, Exception):
            raise QueueError(f"key {ref.queue.key!r}: {type(reply).__name__}: {reply}")


def _parse(ref: QueueRef, replies: list[Any], now: float, health: QueueHealth) -> list[Sample]:
    _check(ref, replies)
    q, labels = ref.queue, ref.labels
    if q.kind == "redis_list":
        out = [Sample(catalog.QUEUE_DEPTH, labels, replies[0])]
        if q.age_field:
            age = _list_age(ref, replies[1], now, health)
            if age is not None:
                out.append(Sample(catalog.QUEUE_OLDEST_AGE, labels, age))
        return out
    if q.kind == "redis_zset":
        ready, total, lowest = replies
        age = 0.0
        if lowest:
            due = lowest[0][1] / _score_scale(q.score_unit)
            age = max(0.0, now - due) if due <= now else 0.0
        return [
            Sample(catalog.QUEUE_DEPTH, labels, ready),
            Sample(catalog.QUEUE_SCHEDULED, labels, total),
            Sample(catalog.QUEUE_OLDEST_AGE, labels, age),
        ]
    _length, lag, pending, oldest = replies[0]
    age = max(0.0, now - stream_id_seconds(oldest)) if oldest else 0.0
    out = [
        Sample(catalog.QUEUE_STREAM_PENDING, labels, pending),
        Sample(catalog.QUEUE_OLDEST_AGE, labels, age),
    ]
    if lag is None:
        health.failed(
            ref,
            "Redis cannot tell the group's lag (entries deleted mid-stream, or Redis < 7); "
            "queue_depth and queue_stream_lag are left out",
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
    except ValueError as exc:
        health.failed(ref, f"cannot read the oldest job's age: {exc}", what="age")
        return None
    health.ok(ref, what="age")
    return max(0.0, now - ts)
