"""End to end: `exporter serve` as a subprocess reads every queue kind onto /metrics."""

from __future__ import annotations

import json
import time
import uuid

import asyncpg
import redis as redis_lib

from tests.support.servers import exporter_process, free_port, sample_value, scrape, wait_for

INTERVAL = 0.5


def _config(http_port: int, redis_url: str, pg_dsn: str, keys: dict[str, str], schema: str) -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http_port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: {INTERVAL}, timeout_seconds: 0.4}}
postgres: [{{name: main, dsn: "{pg_dsn}"}}]
redis: [{{name: main, url: "{redis_url}"}}]
gpu: off
metrics_api: {{enabled: false}}
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    queues:
      - {{name: list, kind: redis_list, key: "{keys["list"]}", age_field: enqueued_at}}
      - {{name: zset, kind: redis_zset, key: "{keys["zset"]}"}}
      - {{name: stream, kind: redis_stream, key: "{keys["stream"]}", group: workers}}
      - {{name: wrong-type, kind: redis_list, key: "{keys["wrong"]}"}}
  - name: cpu
    workload: {{name: component-cpu}}
    queues:
      - name: jobs
        kind: postgres_query
        query: SELECT count(*), min(created_at) FROM {schema}.jobs WHERE state = 'queued'
      - {{name: bad-sql, kind: postgres_query, query: "SELEC count(*) FROM {schema}.jobs"}}
"""


def _scrape_until(url: str, check, what: str, timeout: float = 15.0) -> str:
    """Scrape until check(text) holds; returns that text."""

    def attempt():
        text = scrape(url)
        return text if check(text) else None

    return wait_for(attempt, timeout=timeout, what=what)


def _collection_started_after(text: str, collector: str, t0: float) -> bool:
    """True once a run of `collector` that began after t0 has finished successfully."""
    done = sample_value(
        text, "exporter_collector_last_success_timestamp_seconds", collector=collector
    )
    took = sample_value(text, "exporter_collector_duration_seconds", collector=collector)
    return done is not None and took is not None and done - took > t0


async def test_every_queue_kind_reaches_metrics_within_one_interval(redis, pg):
    tag = uuid.uuid4().hex[:8]
    keys = {k: f"serve:{tag}:{k}" for k in ("list", "zset", "stream", "wrong")}
    schema = f"serve_{tag}"
    conn = await asyncpg.connect(pg.extra["dsn"])
    await conn.execute(
        f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.jobs "
        "(id serial, state text, created_at timestamptz DEFAULT now())"
    )
    r = redis_lib.Redis.from_url(redis.extra["url"])
    r.xgroup_create(keys["stream"], "workers", id="0", mkstream=True)
    r.set(keys["wrong"], "a string, not a list")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    config = _config(port, redis.extra["url"], pg.extra["dsn"], keys, schema)
    try:
        with exporter_process(config) as exporter:
            # First cycle: all queues exist and are empty.
            text = _scrape_until(
                url, lambda t: sample_value(t, "queue_up", queue="jobs") is not None, "first cycle"
            )
            for q in ("list", "zset", "stream", "jobs"):
                assert sample_value(text, "queue_depth", queue=q) == 0, q
                assert sample_value(text, "queue_up", queue=q) == 1, q

            now = time.time()
            for age in (40, 20):
                r.lpush(keys["list"], json.dumps({"id": age, "enqueued_at": now - age}))
            r.zadd(keys["zset"], {"a": now - 30, "b": now - 1, "c": now + 600})
            for i in range(4):
                r.xadd(keys["stream"], {"job": i})
            r.xreadgroup("workers", "worker-1", {keys["stream"]: ">"}, count=1)  # no XACK
            await conn.execute(
                f"INSERT INTO {schema}.jobs (state, created_at) VALUES "
                "('queued', now() - interval '90 seconds'), ('queued', now()), ('done', now())"
            )
            t0 = time.time()

            text = _scrape_until(
                url,
                lambda t: all(
                    _collection_started_after(t, c, t0) for c in ("redis_queues", "postgres_queues")
                ),
                "a collection that started after the push",
                timeout=10,
            )
            # The first collection that started after the push already shows everything;
            # with a fixed-rate schedule that one starts within one interval of the push.
            v = lambda name, q: sample_value(text, name, queue=q)  # noqa: E731
            assert v("queue_depth", "list") == 2
            assert 40 <= v("queue_oldest_age_seconds", "list") < 50
            assert v("queue_depth", "zset") == 2 and v("queue_scheduled_jobs", "zset") == 3
            assert 30 <= v("queue_oldest_age_seconds", "zset") < 40
            assert v("queue_depth", "stream") == 3 and v("queue_stream_lag", "stream") == 3
            assert v("queue_stream_pending", "stream") == 1
            assert 0 <= v("queue_oldest_age_seconds", "stream") < 10
            assert v("queue_depth", "jobs") == 2
            assert 90 <= v("queue_oldest_age_seconds", "jobs") < 100
            assert sample_value(text, "queue_depth", component_class="cpu", queue="jobs") == 2

            # The broken queues fail alone, and the collectors stay up.
            assert v("queue_up", "wrong-type") == 0 and v("queue_depth", "wrong-type") is None
            assert v("queue_up", "bad-sql") == 0
            for q in ("list", "zset", "stream", "jobs"):
                assert v("queue_up", q) == 1
            for c in ("redis_queues", "postgres_queues"):
                assert sample_value(text, "exporter_collector_up", collector=c) == 1
            log = exporter.extra["log"].read_text()
            assert log.count("queue 'bad-sql' of class 'cpu'") == 1, log
            assert 'syntax error at or near "SELEC"' in log
            assert log.count("queue 'wrong-type' of class 'gpu'") == 1, log
    finally:
        r.close()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


def test_redis_down_makes_queue_values_stale_and_collector_down(own_redis, pg):
    r = redis_lib.Redis.from_url(own_redis.extra["url"])
    r.rpush("jobs:gpu", "a", "b", "c")
    r.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    config = f"""
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: {INTERVAL}, timeout_seconds: 0.4}}
redis: [{{name: main, url: "{own_redis.extra["url"]}"}}]
gpu: off
metrics_api: {{enabled: false}}
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    queues: [{{name: "jobs:gpu", kind: redis_list, key: "jobs:gpu"}}]
"""
    with exporter_process(config):
        wait_for(lambda: sample_value(scrape(url), "queue_depth", queue="jobs:gpu") == 3)
        own_redis.proc.kill()
        own_redis.proc.wait()
        text = _scrape_until(
            url,
            lambda t: sample_value(t, "exporter_collector_up", collector="redis_queues") == 0,
            "redis_queues collector down",
        )
        assert sample_value(text, "queue_up", queue="jobs:gpu") == 0
        assert sample_value(text, "queue_depth", queue="jobs:gpu") == 3  # stale, kept
        assert sample_value(text, "exporter_collector_errors_total", collector="redis_queues") >= 1
