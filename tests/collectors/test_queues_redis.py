"""Redis queue collector against a real redis-server: each kind, the faults, one round trip."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
import redis as redis_lib
import redis.asyncio.connection as aio_connection

from exporter.collectors.queues import QueueRef, RedisQueuesCollector
from exporter.collectors.queues.redis_queues import READ_CHUNK
from exporter.collectors.queues.scripts import STREAM_LAG_COUNT_LIMIT
from exporter.config import RedisTarget, parse_queue
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot


def _key(name: str) -> str:
    return f"t:{uuid.uuid4().hex[:8]}:{name}"  # tests share one Redis server


def _collector(url: str, *queues: dict, timeout: float = 1.0) -> RedisQueuesCollector:
    refs = [QueueRef("gpu", parse_queue(q)) for q in queues]
    return RedisQueuesCollector(RedisTarget(name="main", url=url), refs, 1.0, timeout)


def _values(samples) -> dict[tuple[str, str], float]:
    return {(s.spec.name, s.labels["queue"]): s.value for s in samples}


@pytest.fixture
def r(redis):
    client = redis_lib.Redis.from_url(redis.extra["url"])
    yield client
    client.close()


async def test_list_depth_and_age_from_json_field(redis, r):
    lk, rk, plain = _key("l"), _key("r"), _key("plain")
    now = time.time()
    # LPUSH producers (oldest at the tail) and RPUSH producers (oldest at the head).
    for age in (30, 20, 10):
        r.lpush(lk, json.dumps({"job": {"enqueued_at": now - age}}))
        r.rpush(rk, json.dumps({"enqueued_at": (now - age) * 1000}))  # milliseconds
    r.lpush(plain, "job-1", "job-2")
    col = _collector(
        redis.extra["url"],
        {"name": "l", "kind": "redis_list", "key": lk, "age_field": "job.enqueued_at"},
        {"name": "r", "kind": "redis_list", "key": rk, "age_field": "enqueued_at", "push": "rpush"},
        {"name": "plain", "kind": "redis_list", "key": plain},
    )
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_depth", "l")] == 3
    assert v[("queue_depth", "r")] == 3
    assert 30 <= v[("queue_oldest_age_seconds", "l")] < 40
    assert 30 <= v[("queue_oldest_age_seconds", "r")] < 40
    assert v[("queue_depth", "plain")] == 2
    # A plain list carries no enqueue time: no age series rather than a made-up one.
    assert ("queue_oldest_age_seconds", "plain") not in v
    assert v[("queue_up", "l")] == v[("queue_up", "r")] == v[("queue_up", "plain")] == 1


async def test_list_with_unreadable_payload_keeps_depth_and_logs_once(redis, r, caplog):
    key = _key("l")
    r.lpush(key, "not json")
    col = _collector(
        redis.extra["url"], {"name": "l", "kind": "redis_list", "key": key, "age_field": "ts"}
    )
    try:
        with caplog.at_level(logging.WARNING):
            v1 = _values(await col.collect())
            v2 = _values(await col.collect())
    finally:
        await col.close()
    assert v1 == v2
    assert v1[("queue_depth", "l")] == 1 and v1[("queue_up", "l")] == 1
    assert ("queue_oldest_age_seconds", "l") not in v1
    lines = [r for r in caplog.records if "oldest job's age" in r.getMessage()]
    assert len(lines) == 1 and "not JSON" in lines[0].getMessage()


async def test_zset_ready_total_and_age(redis, r):
    key, ms_key = _key("z"), _key("zms")
    now = time.time()
    r.zadd(key, {"due-60s-ago": now - 60, "due-5s-ago": now - 5, "later": now + 3600})
    r.zadd(ms_key, {"due": (now - 42) * 1000, "later": (now + 60) * 1000})
    col = _collector(
        redis.extra["url"],
        {"name": "z", "kind": "redis_zset", "key": key},
        {"name": "zms", "kind": "redis_zset", "key": ms_key, "score_unit": "milliseconds"},
    )
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_depth", "z")] == 2  # ready: score <= now
    assert v[("queue_scheduled_jobs", "z")] == 3
    assert 60 <= v[("queue_oldest_age_seconds", "z")] < 70
    assert v[("queue_depth", "zms")] == 1 and v[("queue_scheduled_jobs", "zms")] == 2
    assert 42 <= v[("queue_oldest_age_seconds", "zms")] < 52


async def test_zset_with_nothing_due_has_age_zero(redis, r):
    key = _key("z")
    r.zadd(key, {"later": time.time() + 600})
    col = _collector(redis.extra["url"], {"name": "z", "kind": "redis_zset", "key": key})
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_depth", "z")] == 0 and v[("queue_scheduled_jobs", "z")] == 1
    assert v[("queue_oldest_age_seconds", "z")] == 0


async def test_stream_lag_pending_and_age_after_read_without_ack(redis, r):
    key = _key("s")
    r.xgroup_create(key, "workers", id="0", mkstream=True)
    now_ms = int(time.time() * 1000)
    ids = [r.xadd(key, {"n": i}, id=f"{now_ms - 50_000 + i}-0") for i in range(5)]
    col = _collector(
        redis.extra["url"], {"name": "s", "kind": "redis_stream", "key": key, "group": "workers"}
    )
    try:
        v = _values(await col.collect())
        assert v[("queue_stream_lag", "s")] == 5 and v[("queue_depth", "s")] == 5
        assert v[("queue_stream_pending", "s")] == 0
        assert 50 <= v[("queue_oldest_age_seconds", "s")] < 60  # oldest undelivered entry

        # A consumer reads two entries and acknowledges neither.
        r.xreadgroup("workers", "c1", {key: ">"}, count=2)
        v = _values(await col.collect())
        assert v[("queue_stream_lag", "s")] == 3 and v[("queue_depth", "s")] == 3
        assert v[("queue_stream_pending", "s")] == 2
        assert 50 <= v[("queue_oldest_age_seconds", "s")] < 60  # the oldest pending one

        # Acknowledged: the age moves to the first entry not yet delivered (ids[2]).
        r.xack(key, "workers", *ids[:2])
        v = _values(await col.collect())
        assert v[("queue_stream_pending", "s")] == 0 and v[("queue_stream_lag", "s")] == 3
        assert 49.9 <= v[("queue_oldest_age_seconds", "s")] < 59.9

        # Everything delivered and acknowledged: an empty queue.
        r.xreadgroup("workers", "c1", {key: ">"})
        r.xack(key, "workers", *ids[2:])
        v = _values(await col.collect())
        assert v[("queue_depth", "s")] == 0 and v[("queue_stream_pending", "s")] == 0
        assert v[("queue_oldest_age_seconds", "s")] == 0
    finally:
        await col.close()


async def test_missing_keys_are_empty_queues_not_errors(redis):
    col = _collector(
        redis.extra["url"],
        {"name": "l", "kind": "redis_list", "key": _key("l"), "age_field": "ts"},
        {"name": "z", "kind": "redis_zset", "key": _key("z")},
        {"name": "s", "kind": "redis_stream", "key": _key("s"), "group": "g"},
    )
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    for q in ("l", "z", "s"):
        assert v[("queue_depth", q)] == 0
        assert v[("queue_oldest_age_seconds", q)] == 0
        assert v[("queue_up", q)] == 1


async def test_wrong_key_type_fails_that_queue_only_and_logs_once(redis, r, caplog):
    good, wrong = _key("good"), _key("wrong")
    r.lpush(good, "a", "b")
    r.hset(wrong, "field", "value")
    stream = _key("s")
    r.xgroup_create(stream, "workers", id="0", mkstream=True)
    col = _collector(
        redis.extra["url"],
        {"name": "good", "kind": "redis_list", "key": good},
        {"name": "as-list", "kind": "redis_list", "key": wrong},
        {"name": "as-zset", "kind": "redis_zset", "key": wrong},
        {"name": "aged-list", "kind": "redis_list", "key": wrong, "age_field": "ts"},
        {"name": "as-stream", "kind": "redis_stream", "key": wrong, "group": "workers"},
        {"name": "no-group", "kind": "redis_stream", "key": stream, "group": "typo"},
    )
    with caplog.at_level(logging.WARNING):
        v = _values(await col.collect())
        assert _values(await col.collect()) == v
    assert v[("queue_up", "good")] == 1 and v[("queue_depth", "good")] == 2
    for q in ("as-list", "as-zset", "aged-list", "as-stream", "no-group"):
        assert v[("queue_up", q)] == 0
        assert ("queue_depth", q) not in v
    messages = [rec.getMessage() for rec in caplog.records]
    assert len(messages) == 5, messages  # once per broken queue, not once per cycle
    by_queue = {q: [m for m in messages if f"queue {q!r}" in m] for q in
                ("as-list", "as-zset", "aged-list", "as-stream", "no-group")}  # fmt: skip
    assert "WRONGTYPE" in by_queue["as-list"][0] and "expected a list" in by_queue["as-list"][0]
    assert "holds a hash, not a sorted set" in by_queue["as-zset"][0]
    assert "holds a hash, not a list" in by_queue["aged-list"][0]
    assert "holds a hash, not a stream" in by_queue["as-stream"][0]
    assert "no consumer group typo" in by_queue["no-group"][0]

    # Fixed: the queues recover on the next cycle, each with one info line.
    r.delete(wrong)
    caplog.clear()
    try:
        with caplog.at_level(logging.INFO):
            v = _values(await col.collect())
    finally:
        await col.close()
    for q in ("as-list", "as-zset", "aged-list", "as-stream"):
        assert v[("queue_up", q)] == 1 and v[("queue_depth", q)] == 0
    recovered = [rec.getMessage() for rec in caplog.records if "recovered" in rec.getMessage()]
    assert len(recovered) == 4, recovered


async def test_all_queues_are_read_in_one_round_trip_per_chunk(redis, r, monkeypatch):
    """300 queues: one pipelined round trip per READ_CHUNK queues, not one per queue."""
    queues = []
    for i in range(100):
        queues.append({"name": f"l{i}", "kind": "redis_list", "key": _key("l"), "age_field": "t"})
        queues.append({"name": f"z{i}", "kind": "redis_zset", "key": _key("z")})
        queues.append({"name": f"s{i}", "kind": "redis_stream", "key": _key("s"), "group": "g"})
    col = _collector(redis.extra["url"], *queues)
    sends = []
    original = aio_connection.AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):
        sends.append(1)
        return await original(self, command, check_health)

    monkeypatch.setattr(aio_connection.AbstractConnection, "send_packed_command", counting)
    try:
        await col.collect()  # the first cycle also loads the stream script
        sends.clear()
        samples = await col.collect()
    finally:
        await col.close()
    assert len(sends) == -(-300 // READ_CHUNK) == 2
    assert sum(1 for s in samples if s.spec.name == "queue_up" and s.value == 1) == 300


async def test_script_flush_is_recovered_within_the_cycle(redis, r):
    key = _key("s")
    r.xgroup_create(key, "g", id="0", mkstream=True)
    r.xadd(key, {"a": 1})
    col = _collector(redis.extra["url"], {"name": "s", "kind": "redis_stream", "key": key, "group": "g"})  # fmt: skip
    try:
        await col.collect()
        r.script_flush()  # as after a Redis restart
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_up", "s")] == 1 and v[("queue_depth", "s")] == 1


async def test_redis_down_or_hung_leaves_values_stale_and_collector_down(own_redis):
    url = own_redis.extra["url"]
    client = redis_lib.Redis.from_url(url)
    client.lpush("jobs", "a", "b", "c")
    client.close()
    col = _collector(url, {"name": "jobs", "kind": "redis_list", "key": "jobs"}, timeout=0.5)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [col])
    labels = {"component_class": "gpu", "queue": "jobs"}
    up = {"collector": "redis_queues", "target": "main"}
    try:
        assert await runtime.run_once(col)
        assert snapshot.value("queue_depth", labels) == 3

        own_redis.pause()  # hung: the cycle times out instead of hanging
        started = time.monotonic()
        assert not await runtime.run_once(col)
        assert time.monotonic() - started < 3
        assert snapshot.value("exporter_collector_up", up) == 0
        assert snapshot.value("queue_up", labels) == 0
        assert snapshot.value("queue_depth", labels) == 3  # stale, not dropped

        own_redis.resume()
        assert await runtime.run_once(col)
        assert snapshot.value("queue_up", labels) == 1

        own_redis.proc.kill()  # dead: connection refused
        own_redis.proc.wait()
        assert not await runtime.run_once(col)
        assert snapshot.value("exporter_collector_up", up) == 0
        assert snapshot.value("queue_up", labels) == 0
        assert snapshot.value("queue_depth", labels) == 3
    finally:
        await runtime.stop()


async def test_user_without_scripting_still_reads_plain_lists(redis, r, caplog):
    user = f"ro{uuid.uuid4().hex[:6]}"
    r.execute_command("ACL", "SETUSER", user, "on", ">secret-pw", "~*", "+@read", "+@connection")
    plain, zset = _key("l"), _key("z")
    r.lpush(plain, "a")
    r.zadd(zset, {"a": 1})
    url = redis.extra["url"].replace("redis://", f"redis://{user}:secret-pw@")
    col = _collector(
        url,
        {"name": "plain", "kind": "redis_list", "key": plain},
        {"name": "zset", "kind": "redis_zset", "key": zset},
    )
    try:
        with caplog.at_level(logging.WARNING):
            v = _values(await col.collect())
    finally:
        await col.close()
        r.execute_command("ACL", "DELUSER", user)
    (line,) = [rec.getMessage() for rec in caplog.records]
    assert "queue 'zset'" in line and "refused SCRIPT LOAD" in line and "no permissions" in line
    assert "secret-pw" not in line
    assert v[("queue_up", "plain")] == 1 and v[("queue_depth", "plain")] == 1
    assert v[("queue_up", "zset")] == 0 and ("queue_depth", "zset") not in v


async def test_stream_lag_redis_cannot_tell_is_counted_up_to_a_limit(redis, r, caplog):
    small, big = _key("small"), _key("big")
    ids = [r.xadd(small, {"n": i}) for i in range(5)]
    r.xgroup_create(small, "g", id=ids[1])  # an arbitrary id: XINFO GROUPS lag is nil
    pipe = r.pipeline(transaction=False)
    for i in range(STREAM_LAG_COUNT_LIMIT + 3):
        pipe.xadd(big, {"n": i}, id=f"{i + 1}-0")  # 1-0 ... 10003-0
    pipe.execute()
    r.xgroup_create(big, "g", id="2-0")
    assert r.xinfo_groups(small)[0]["lag"] is None and r.xinfo_groups(big)[0]["lag"] is None
    col = _collector(
        redis.extra["url"],
        {"name": "small", "kind": "redis_stream", "key": small, "group": "g"},
        {"name": "big", "kind": "redis_stream", "key": big, "group": "g"},
    )
    try:
        with caplog.at_level(logging.WARNING):
            v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_stream_lag", "small")] == 3 and v[("queue_depth", "small")] == 3
    # Past the limit the lag stays unknown: left out rather than guessed, and said once.
    assert ("queue_depth", "big") not in v and ("queue_stream_lag", "big") not in v
    assert v[("queue_up", "big")] == 1 and v[("queue_stream_pending", "big")] == 0
    (line,) = [rec.getMessage() for rec in caplog.records if "lag" in rec.getMessage()]
    assert "queue 'big'" in line and "lag is unknown" in line
    # explicit ids 1-0...: no plausible enqueue time, so the age is left out (said once)
    assert ("queue_oldest_age_seconds", "big") not in v
