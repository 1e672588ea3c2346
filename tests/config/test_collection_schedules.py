"""`collection.queues` and `collection.health`: one schedule per kind of work, the
freshness guards on the queue schedule, and single-interval configs meaning what they did."""

from __future__ import annotations

import pytest

from exporter.collectors import REGISTRY
from exporter.config import Config, ConfigError, load_config
from exporter.keda.servicer import Scaler
from exporter.metrics_api.providers.snapshot import SnapshotProvider
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from exporter.status.board import StatusBoard
from tests.support.cli_run import run_cli


def schedules(config: Config) -> tuple[tuple[float, float], tuple[float, float]]:
    c = config.collection
    return (
        (c.queues.interval_seconds, c.queues.timeout_seconds),
        (c.health.interval_seconds, c.health.timeout_seconds),
    )


def test_the_embedded_default_reads_queues_every_second_and_probes_health_every_15s():
    assert schedules(load_config(environ={})) == ((1.0, 0.8), (15.0, 5.0))
    assert schedules(Config()) == ((1.0, 0.8), (15.0, 5.0))


@pytest.mark.parametrize(
    "collection, queues, health",
    [
        # the old single schedule (its defaults were 5 s and 2 s): both kinds run on it
        ({"interval_seconds": 5, "timeout_seconds": 2}, (5, 2), (5, 2)),
        ({"interval_seconds": 3}, (3, 2), (3, 2)),
        ({"timeout_seconds": 1}, (5, 1), (5, 1)),
        # a kind's own schedule wins over the shared one
        (
            {"interval_seconds": 10, "queues": {"interval_seconds": 1, "timeout_seconds": 0.5}},
            (1, 0.5),
            (10, 2),
        ),
        ({"health": {"interval_seconds": 30, "timeout_seconds": 20}}, (1, 0.8), (30, 20)),
    ],
)
def test_single_interval_configs_keep_working(collection, queues, health):
    assert schedules(Config(collection=collection)) == (queues, health)


def test_the_environment_override_of_the_single_interval_sets_both_kinds():
    config = load_config(environ={"EXPORTER_COLLECTION__INTERVAL_SECONDS": "10"})
    assert schedules(config) == ((10, 2), (10, 2))
    config = load_config(
        environ={
            "EXPORTER_COLLECTION__QUEUES__INTERVAL_SECONDS": "2",
            "EXPORTER_COLLECTION__QUEUES__TIMEOUT_SECONDS": "1.5",
        }
    )
    assert schedules(config) == ((2, 1.5), (15, 5))


@pytest.mark.parametrize(
    "text, field",
    [
        ("collection: {queues: {interval_seconds: 1, timeout_seconds: 2}}\n", "collection.queues"),
        ("collection: {health: {interval_seconds: 0, timeout_seconds: 0}}\n", "collection.health"),
        ("collection: {health: {interval_seconds: 10}}\n", "collection.health.timeout_seconds"),
        ("collection: {interval_seconds: 1}\n", "collection"),  # 2 s timeout > 1 s
        ("collection: {queues: {every: 1}}\n", "collection.queues"),
    ],
)
def test_bad_schedules_exit_2_with_one_line_naming_the_field(tmp_path, text, field):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = run_cli("check-config", "--config", str(path))
    assert result.code == 2, result
    assert len(result.err_lines) == 1, result.stderr
    assert field in result.err_lines[0], result.err_lines[0]
    with pytest.raises(ConfigError):
        load_config(path, environ={})


QUEUE_CONFIG = {
    "postgres": [{"name": "db", "dsn": "postgresql://u@127.0.0.1:1/x"}],
    "redis": [{"name": "r", "url": "redis://127.0.0.1:1/0"}],
    "gpu": "off",
    "kubernetes": {"enabled": "off"},
    "component_classes": [
        {
            "name": "gpu",
            "workload": {"name": "w"},
            "queues": [
                {"name": "jobs", "kind": "redis_list", "target": "r", "key": "jobs"},
                {
                    "name": "pgq",
                    "kind": "postgres_query",
                    "target": "db",
                    "query": "SELECT count(*) FROM jobs",
                },
            ],
            "scale_on": [{"metric": "queue_depth", "target_average_value": 2}],
        }
    ],
    "collection": {
        "queues": {"interval_seconds": 0.5, "timeout_seconds": 0.4},
        "health": {"interval_seconds": 20, "timeout_seconds": 8},
    },
}


def test_each_collector_runs_on_its_kind_of_schedule():
    config = Config.model_validate(QUEUE_CONFIG)
    by_kind = {}
    for build in REGISTRY:
        for collector in build(config):
            by_kind.setdefault(collector.name, set()).add((collector.interval, collector.timeout))
    assert by_kind.pop("postgres") == {(20, 8)}
    assert by_kind.pop("redis") == {(20, 8)}
    queue_kinds = {k for k in by_kind if "queue" in k}
    assert queue_kinds, by_kind
    for kind in queue_kinds:
        assert by_kind[kind] == {(0.5, 0.4)}, kind


def test_freshness_guards_follow_the_queue_interval():
    config = Config.model_validate({**QUEUE_CONFIG, "metrics_api": {"stale_after_intervals": 4}})
    snapshot = Snapshot()
    provider = SnapshotProvider(config, snapshot, lambda: True)
    assert provider.max_age == 4 * 0.5  # not 4 health intervals (80 s)
    servicer = Scaler(config, lambda: provider, snapshot, None, None)
    assert servicer.interval == 0.5  # how long StreamIsActive waits between re-checks
    board = StatusBoard(config, snapshot, Runtime(snapshot, []), provider=provider)
    assert board.sync_seconds == 0.5


def test_the_promql_answer_cache_lasts_one_queue_interval():
    from exporter.metrics_api.providers.promql import PromqlProvider
    from exporter.service import metrics_provider

    config = Config.model_validate(
        {
            **QUEUE_CONFIG,
            "metrics_api": {
                "external": [
                    {"name": "queue_depth", "source": "snapshot"},
                    {"name": "backlog", "source": "promql", "query": "sum(x)"},
                ]
            },
        }
    )
    snapshot = Snapshot()
    routing = metrics_provider(config, snapshot, Runtime(snapshot, []))
    (promql,) = {p for p in routing.routes.values() if isinstance(p, PromqlProvider)}
    assert promql.cache_seconds == 0.5
