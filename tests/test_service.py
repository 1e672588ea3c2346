"""`exporter serve` as a real process against real PostgreSQL and Redis, healthy and faulty."""

from __future__ import annotations

import signal
import statistics
import time

import asyncpg
import httpx
import redis as redis_lib

from tests.support.servers import (
    exporter_process,
    free_port,
    postgres_server,
    redis_server,
    sample_value,
    scrape,
    wait_for,
)

SECRET = "pw-S3CRET-value"
INTERVAL = 0.5


def config_for(
    http_port: int, pg_dsn: str, redis_url: str, interval=INTERVAL, timeout=0.3, extra=""
) -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http_port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: {interval}, timeout_seconds: {timeout}}}
postgres: [{{name: main, dsn: "{pg_dsn}"}}]
redis: [{{name: main, url: "{redis_url}"}}]
gpu: "off"
{extra}
"""


def metrics(port: int, **kw) -> str:
    return scrape(f"http://127.0.0.1:{port}/metrics", **kw)


def value(port: int, name: str, **labels) -> float | None:
    return sample_value(metrics(port), name, **labels)


def test_healthy_targets_report_every_catalog_series(pg, redis):
    port = free_port()
    with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])):
        wait_for(lambda: value(port, "pg_up", target="main") == 1, what="pg_up 1")
        wait_for(lambda: value(port, "redis_up", target="main") == 1, what="redis_up 1")
        text = metrics(port)
        for name, labels in [
            ("pg_probe_duration_seconds", {"target": "main"}),
            ("pg_connections", {"target": "main", "state": "active"}),
            ("pg_connections", {"target": "main", "state": "idle"}),
            ("pg_max_connections", {"target": "main"}),
            ("pg_deadlocks_total", {"target": "main", "datname": "postgres"}),
            ("pg_database_size_bytes", {"target": "main", "datname": "postgres"}),
            ("pg_longest_transaction_seconds", {"target": "main"}),
            ("pg_replication_lag_seconds", {"target": "main"}),
            ("redis_probe_duration_seconds", {"target": "main"}),
            ("redis_connected_clients", {"target": "main"}),
            ("redis_blocked_clients", {"target": "main"}),
            ("redis_memory_used_bytes", {"target": "main"}),
            ("redis_memory_max_bytes", {"target": "main"}),
            ("redis_evicted_keys_total", {"target": "main"}),
            ("redis_rejected_connections_total", {"target": "main"}),
            ("redis_rdb_last_bgsave_ok", {"target": "main"}),
            ("exporter_collector_up", {"collector": "postgres", "target": "main"}),
            (
                "exporter_collector_last_success_timestamp_seconds",
                {"collector": "redis", "target": "main"},
            ),
            ("exporter_build_info", {"environment": "dev"}),
        ]:
            assert sample_value(text, name, **labels) is not None, (name, labels)
        assert (
            sample_value(text, "pg_max_connections", target="main") == 40
        )  # the test server's setting
        assert sample_value(text, "pg_replication_lag_seconds", target="main") == 0  # a primary
        assert sample_value(text, "pg_database_size_bytes", target="main", datname="postgres") > 1e6
        assert sample_value(text, "redis_memory_used_bytes", target="main") > 1e5
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200


async def test_longest_transaction_and_active_connections_are_measured(pg, redis):
    port = free_port()
    conn = await asyncpg.connect(pg.extra["dsn"])
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT txid_current()")
        with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])):
            wait_for(
                lambda: (value(port, "pg_longest_transaction_seconds", target="main") or 0) >= 1.0,
                what="an open transaction older than 1 s",
            )
            idle_in_tx = value(port, "pg_connections", target="main", state="idle_in_transaction")
            assert idle_in_tx >= 1
        await tx.rollback()
    finally:
        await conn.close()


def test_openmetrics_when_asked_for(pg, redis):
    port = free_port()
    with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])):
        wait_for(lambda: value(port, "redis_up", target="main") == 1, what="redis_up 1")
        resp = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
        )
        assert resp.headers["content-type"].startswith("application/openmetrics-text")
        assert resp.text.endswith("# EOF\n")
        assert "# TYPE redis_evicted_keys counter" in resp.text
        plain = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_absent_targets_give_up_0_one_warning_each_and_recover_by_themselves():
    port, pg_port, redis_port = free_port(), free_port(), free_port()
    config = config_for(
        port,
        f"postgresql://postgres:{SECRET}@127.0.0.1:{pg_port}/postgres",
        f"redis://:{SECRET}@127.0.0.1:{redis_port}/0",
    )
    with exporter_process(config) as exporter:
        wait_for(lambda: value(port, "pg_up", target="main") == 0, what="pg_up 0")
        wait_for(lambda: value(port, "redis_up", target="main") == 0, what="redis_up 0")
        assert (
            httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        )  # a failed run counts
        errors = {"collector": "postgres", "target": "main"}
        wait_for(
            lambda: value(port, "exporter_collector_errors_total", **errors) >= 4,
            what="four failed cycles",
        )
        log = exporter.extra["log"].read_text()
        assert log.count("postgres target 'main' is failing") == 1, log
        assert log.count("redis target 'main' is failing") == 1, log
        assert SECRET not in log and SECRET not in metrics(port)

        # The targets appear (Redis with no password set accepts the AUTH-less ping only if
        # the URL has none, so start them where the exporter looks and drop the password).
    port2 = free_port()
    with exporter_process(
        config_for(
            port2,
            f"postgresql://postgres@127.0.0.1:{pg_port}/postgres",
            f"redis://127.0.0.1:{redis_port}/0",
        )
    ) as exporter:
        wait_for(lambda: value(port2, "pg_up", target="main") == 0, what="pg_up 0")
        with postgres_server(port=pg_port), redis_server(port=redis_port):
            wait_for(
                lambda: value(port2, "pg_up", target="main") == 1, timeout=10, what="pg recovery"
            )
            wait_for(
                lambda: value(port2, "redis_up", target="main") == 1,
                timeout=10,
                what="redis recovery",
            )
            assert value(port2, "exporter_collector_up", collector="postgres", target="main") == 1
        log = exporter.extra["log"].read_text()
        assert "postgres target 'main' recovered" in log and "redis target 'main' recovered" in log


def _scrape_times(port: int, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        metrics(port, timeout=5)
        times.append(time.perf_counter() - started)
    return times


def test_hung_dependencies_sigstop_keep_scrapes_fast_and_recover(own_pg, own_redis):
    port = free_port()
    with exporter_process(config_for(port, own_pg.extra["dsn"], own_redis.extra["url"])):
        wait_for(lambda: value(port, "pg_up", target="main") == 1, what="pg_up 1")
        wait_for(lambda: value(port, "redis_up", target="main") == 1, what="redis_up 1")
        clients_before = value(port, "redis_connected_clients", target="main")

        own_pg.pause()
        own_redis.pause()
        stopped_at = time.monotonic()
        try:
            wait_for(
                lambda: value(port, "pg_up", target="main") == 0,
                timeout=5,
                interval=0.02,
                what="pg_up 0",
            )
            pg_down_after = time.monotonic() - stopped_at
            wait_for(
                lambda: value(port, "redis_up", target="main") == 0,
                timeout=5,
                interval=0.02,
                what="redis_up 0",
            )
            redis_down_after = time.monotonic() - stopped_at
            times = _scrape_times(port, 20)
            text = metrics(port)
        finally:
            own_pg.resume()
            own_redis.resume()
        print(
            f"\nSIGSTOP: scrape p50 {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms; "
            f"pg_up 0 after {pg_down_after:.2f} s, redis_up 0 after {redis_down_after:.2f} s "
            f"(interval {INTERVAL} s)"
        )
        assert max(times) < 1.0
        assert (
            pg_down_after < 2 * INTERVAL + 0.3 + 0.5
        )  # two intervals, plus the probe timeout and polling
        assert redis_down_after < 2 * INTERVAL + 0.3 + 0.5
        # Stale values stay in place while the target is down.
        assert sample_value(text, "pg_max_connections", target="main") == 40
        assert sample_value(text, "exporter_collector_up", collector="redis", target="main") == 0

        wait_for(
            lambda: value(port, "pg_up", target="main") == 1, timeout=10, what="pg_up back to 1"
        )
        wait_for(
            lambda: value(port, "redis_up", target="main") == 1,
            timeout=10,
            what="redis_up back to 1",
        )
        # Let a few healthy cycles pass, then count our connections: nothing leaked.
        time.sleep(3 * INTERVAL)
        client = redis_lib.Redis.from_url(own_redis.extra["url"])
        ours = [c for c in client.client_list() if c.get("name") == "exporter"]
        assert len(ours) <= 1, ours
        assert value(port, "redis_connected_clients", target="main") <= clients_before + 1


async def test_hung_postgres_leaks_no_connections(own_pg, redis):
    port = free_port()
    with exporter_process(config_for(port, own_pg.extra["dsn"], redis.extra["url"])):
        wait_for(lambda: value(port, "pg_up", target="main") == 1, what="pg_up 1")
        for _ in range(3):  # several hang/recover rounds, each cutting probes mid-query
            own_pg.pause()
            wait_for(lambda: value(port, "pg_up", target="main") == 0, timeout=5, what="pg_up 0")
            time.sleep(2 * INTERVAL)
            own_pg.resume()
            wait_for(lambda: value(port, "pg_up", target="main") == 1, timeout=10, what="pg_up 1")
        time.sleep(2 * INTERVAL)
        conn = await asyncpg.connect(own_pg.extra["dsn"])
        try:
            ours = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exporter'"
            )
        finally:
            await conn.close()
        assert ours <= 2  # the pool's max_size


def test_readyz_is_503_until_the_first_cycle_finishes(own_redis, pg):
    port = free_port()
    own_redis.pause()  # the first Redis probe hangs until its 2 s timeout
    try:
        config = config_for(port, pg.extra["dsn"], own_redis.extra["url"], interval=5, timeout=2)
        with exporter_process(config):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200,
                what="healthz",
            )
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                timeout=5,
                what="ready",
            )
            assert value(port, "redis_up", target="main") == 0
    finally:
        own_redis.resume()


def test_sigterm_shuts_down_gracefully(pg, redis):
    port = free_port()
    with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])) as exporter:
        wait_for(lambda: value(port, "pg_up", target="main") == 1, what="pg_up 1")
        exporter.proc.send_signal(signal.SIGTERM)
        assert exporter.proc.wait(10) == 0
        assert "shutting down" in exporter.extra["log"].read_text()


def test_busy_port_is_a_clear_start_up_error(pg, redis):
    port = free_port()
    with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])):
        wait_for(lambda: value(port, "pg_up", target="main") is not None, what="first exporter up")
        with exporter_process(config_for(port, pg.extra["dsn"], redis.extra["url"])) as second:
            assert second.proc.wait(15) == 1
            assert f"cannot listen on 127.0.0.1:{port}" in second.extra["log"].read_text()


def test_embedded_default_serves_metrics_within_5_seconds():
    """The README's run command: no config file at all, only the ports moved aside."""
    port = free_port()
    env = {
        "EXPORTER_LISTEN__HTTP": f"127.0.0.1:{port}",
        "EXPORTER_LISTEN__HTTPS": f"127.0.0.1:{free_port()}",
        "EXPORTER_LISTEN__GRPC": f"127.0.0.1:{free_port()}",
        "EXPORTER_POSTGRES__0__DSN": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        "EXPORTER_REDIS__0__URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    started = time.monotonic()
    with exporter_process(None, env=env):
        text = wait_for(lambda: metrics(port), timeout=5, what="/metrics from the embedded default")
        print(f"\nembedded default: first /metrics after {time.monotonic() - started:.2f} s")
        assert sample_value(text, "exporter_build_info", environment="dev") == 1
