"""One validation for every value (exporter.values): a garbage job age never becomes a 500 or
`1e+30`, a job from the future is age 0 and counted as clock skew. Real Redis, the real queue
collector, the real metrics API app and the real `/metrics` rendering."""

from __future__ import annotations

import json
import time

import pytest
import redis as redis_lib

from exporter.config import Config
from tests.support.queue_world import World

AGE = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_oldest_age_seconds"
LABELS = {"component_class": "cpu", "queue": "jobs"}


def _config(url: str) -> Config:
    return Config.model_validate(
        {
            "namespace": "platform",
            "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
            "gpu": "off",
            "redis": [{"name": "main", "url": url}],
            "component_classes": [
                {
                    "name": "cpu",
                    "workload": {"name": "component-cpu"},
                    "queues": [
                        {
                            "name": "jobs",
                            "kind": "redis_list",
                            "key": "v:jobs",
                            "age_field": "enqueued_at",
                        }
                    ],
                }
            ],
            "metrics_api": {
                "external": [{"name": "queue_oldest_age_seconds", "source": "snapshot"}]
            },
        }
    )


@pytest.fixture
def r(redis):
    client = redis_lib.Redis.from_url(redis.extra["url"])
    client.delete("v:jobs")
    yield client
    client.delete("v:jobs")


@pytest.mark.parametrize("enqueued_at", [-1e30, "-1e40", 1e308, "nan", "1e999", 0])
async def test_a_garbage_age_is_unavailable_never_500_or_huge(redis, r, enqueued_at):
    r.lpush("v:jobs", json.dumps({"enqueued_at": enqueued_at}))
    world = World(_config(redis.extra["url"]))
    try:
        await world.collect()
        code, body = await world.get(AGE)
        assert code == 503, body
        assert body["kind"] == "Status" and "queue_oldest_age_seconds" in body["message"]
        text = world.snapshot.render().decode()
        assert "\nqueue_oldest_age_seconds{" not in text and "e+30" not in text  # left out
        assert world.snapshot.value("queue_up", LABELS) == 1.0  # depth still served
        assert world.snapshot.value("queue_depth", LABELS) == 1.0
    finally:
        await world.close()


async def test_a_job_from_the_future_is_age_0_and_counted(redis, r):
    r.lpush("v:jobs", json.dumps({"enqueued_at": time.time() + 3600}))
    world = World(_config(redis.extra["url"]))
    try:
        await world.collect()
        code, body = await world.get(AGE)
        assert code == 200
        assert [i["value"] for i in body["items"]] == ["0"]
        assert world.snapshot.value("queue_clock_skew_total", LABELS) == 1.0
        await world.collect()
        assert world.snapshot.value("queue_clock_skew_total", LABELS) == 2.0
    finally:
        await world.close()


async def test_a_plausible_age_is_served_and_skew_stays_0(redis, r):
    r.lpush("v:jobs", json.dumps({"enqueued_at": time.time() - 30}))
    world = World(_config(redis.extra["url"]))
    try:
        await world.collect()
        code, body = await world.get(AGE)
        assert code == 200
        assert (
            29
            <= float(body["items"][0]["value"].rstrip("m"))
            / (1000 if body["items"][0]["value"].endswith("m") else 1)
            <= 40
        )
        assert world.snapshot.value("queue_clock_skew_total", LABELS) == 0.0
    finally:
        await world.close()
