"""The queue and gpu settings this issue added to the config, and their errors."""

from __future__ import annotations

import pytest

from exporter.config import Config, ConfigError, load_config
from exporter.service import build_collectors


def _write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


BASE = """
redis: [{name: main, url: "redis://127.0.0.1:1/0"}]
postgres: [{name: main, dsn: "postgresql://postgres@127.0.0.1:1/postgres"}]
gpu: off
component_classes:
  - name: gpu
    workload: {name: component-gpu}
    queues:
"""


@pytest.mark.parametrize(
    ("queue", "error"),
    [
        ("{name: q, kind: redis_zset, key: k, age_field: ts}", "age_field applies to redis_list queues, not redis_zset"),
        ("{name: q, kind: redis_list, key: k, push: rpush}", "push only matters with age_field"),
        ("{name: q, kind: redis_list, key: k, score_unit: seconds}", "score_unit applies to redis_zset queues, not redis_list"),
        ("{name: q, kind: redis_zset, key: k, score_unit: hours}", "score_unit"),
        ("{name: q, kind: redis_stream, key: k}", "needs group"),
        ("{name: q, kind: postgres_query}", "needs query"),
        ("{name: q, kind: redis_list, key: k, target: other}", "no redis target named 'other'"),
        ("{name: q, kind: redis_list}", "a redis_list queue needs key"),
        ("{name: q, kind: postgres_query, query: '  '}", "needs query"),
        ("{name: q, kind: postgres_query, query: q, key: k}", "key applies to redis_list, redis_zset"),
        ("{name: q, kind: redis_fifo, key: k}", "kind: must be one of redis_list"),
    ],
)  # fmt: skip
def test_bad_queue_settings_are_clear_errors(tmp_path, queue, error):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, BASE + f"      - {queue}\n"))
    assert error in str(info.value)
    assert "component_classes[0].queues[0]" in str(info.value)


def test_yaml_boolean_gpu_setting_means_on_or_off(tmp_path):
    assert load_config(_write(tmp_path, "gpu: off\n")).gpu == "off"
    assert load_config(_write(tmp_path, "gpu: on\n")).gpu == "on"
    assert load_config(_write(tmp_path, 'gpu: "auto"\n')).gpu == "auto"
    with pytest.raises(ConfigError, match="gpu"):
        load_config(_write(tmp_path, "gpu: sometimes\n"))


def test_one_queue_collector_per_target_that_has_queues(tmp_path):
    config = load_config(
        _write(
            tmp_path,
            BASE
            + """      - {name: a, kind: redis_list, key: a, age_field: meta.ts, push: rpush}
      - {name: b, kind: redis_zset, key: b, score_unit: milliseconds}
      - {name: c, kind: redis_stream, key: c, group: g}
      - {name: d, kind: postgres_query, query: "SELECT count(*) FROM jobs"}
  - name: cpu
    workload: {name: component-cpu}
    queues: [{name: a, kind: redis_list, key: other}]
""",
        )
    )
    queue_collectors = [c for c in build_collectors(config) if c.name.endswith("_queues")]
    assert [(c.name, c.target) for c in queue_collectors] == [
        ("redis_queues", "main"),
        ("postgres_queues", "main"),
    ]
    redis_queues = queue_collectors[0]
    assert [(r.component_class, r.queue.name) for r in redis_queues.queues] == [
        ("gpu", "a"), ("gpu", "b"), ("gpu", "c"), ("cpu", "a"),
    ]  # fmt: skip


def test_default_config_reads_the_three_class_queues_on_one_redis_target():
    config = Config.model_validate(load_config().model_dump() | {"gpu": "off"})
    collectors = {c.name: c for c in build_collectors(config)}
    assert [r.queue.key for r in collectors["redis_queues"].queues] == [
        "jobs:cpu",
        "jobs:gpu",
        "jobs:memory",
    ]
    assert "postgres_queues" not in collectors
