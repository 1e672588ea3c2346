"""Config of the health collectors: topology modes, per-view switches, what gets built."""

from __future__ import annotations

import pytest

from exporter.collectors.postgres import PostgresCollector
from exporter.collectors.queues import RedisQueuesCollector
from exporter.collectors.redis import RedisCollector
from exporter.collectors.redis_cluster import RedisClusterCollector
from exporter.config import ConfigError, load_config
from exporter.service import build_collectors

BASE = """
gpu: off
kubernetes: {enabled: off}
postgres:
  - {name: main, dsn: "postgresql://u@db:5432/app", collect: {health: false}}
redis:
  - {name: cache, url: "redis://r:6379/0", collect: {latencystats: false}}
  - {name: jobs, url: "redis://c1:6379", mode: cluster, seeds: ["c2:6379"]}
  - name: ha
    url: "redis://:pw@ignored:1/2"
    mode: sentinel
    sentinels: ["s1:26379", "s2:26379"]
    master_name: queues
component_classes:
  - name: workers
    workload: {name: workers}
    queues:
      - {name: q1, kind: redis_list, key: q1, target: jobs}
      - {name: q2, kind: redis_list, key: q2, target: ha}
"""


def load(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def test_collectors_built_per_mode_and_switch(tmp_path):
    collectors = build_collectors(load(tmp_path, BASE))
    kinds = sorted((type(c).__name__, c.target) for c in collectors)
    assert ("RedisClusterCollector", "jobs") in kinds
    assert ("RedisCollector", "cache") in kinds and ("RedisCollector", "ha") in kinds
    assert ("RedisQueuesCollector", "ha") in kinds
    assert ("RedisQueuesCollector", "jobs") not in kinds  # read in the cluster's pipelines
    assert not any(isinstance(c, PostgresCollector) for c in collectors)  # health: false
    cluster = next(c for c in collectors if isinstance(c, RedisClusterCollector))
    assert [r.queue.name for r in cluster.queues] == ["q1"]
    assert all(isinstance(c, RedisCollector | RedisQueuesCollector | RedisClusterCollector)
               for c in collectors)  # fmt: skip


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('{name: x, url: "redis://h:1", mode: sentinel}', "redis[0]: mode sentinel needs"),
        ('{name: x, url: "redis://h:1", sentinels: ["a:1"]}', "apply to mode sentinel"),
        ('{name: x, url: "redis://h:1", seeds: ["a:1"]}', "seeds apply to mode cluster"),
        ('{name: x, url: "redis://h:1/3", mode: cluster}', "only db 0"),
        ('{name: x, url: "redis://h:1", mode: cluster, seeds: ["nope"]}', "redis[0].seeds"),
        (
            '{name: x, url: "redis://h:1", collect: {slowlogs: false}}',
            "redis[0].collect.slowlogs: unknown key",
        ),
        ('{name: x, url: "redis://h:1", mode: ring}', "redis[0].mode"),
    ],
)
def test_bad_redis_topology_names_the_field(tmp_path, snippet, message):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"redis:\n  - {snippet}\n")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_postgres_switch_names_the_field(tmp_path):
    text = 'postgres:\n  - {name: m, dsn: "postgresql://h/db", collect: {lock: false}}\n'
    with pytest.raises(ConfigError, match=r"postgres\[0\]\.collect\.lock: unknown key"):
        load(tmp_path, text)


def test_sentinel_password_stays_out_of_check_config(tmp_path):
    from exporter.config import redacted_dump

    dump = redacted_dump(load(tmp_path, BASE))
    assert ":pw@" not in str(dump)
