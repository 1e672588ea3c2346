"""A value is made of every series the config says it is made of, all fresh, or it is not
served: real Redis servers, the real queue collectors and runtime, the real metrics API app.

The cases of issue 16: a class with queues on two Redis targets with one unreachable, a queue
holding a key of the wrong type (at start and turning WRONGTYPE while running), nothing
collected yet, and the staleness window exported as `metrics_api_value_age_seconds`.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis as redis_lib

from exporter.collectors import queues
from exporter.config import Config
from exporter.metrics_api.app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.queue_world import PATH, World
from tests.support.servers import redis_server

SELECT = {"labelSelector": "component_class=cpu"}


def _config(url_a: str, url_b: str, fallback: float | None = None) -> Config:
    depth: dict = {"name": "queue_depth", "source": "snapshot"}
    if fallback is not None:
        depth["fallback"] = fallback
    return Config.model_validate(
        {
            "namespace": "platform",
            "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
            "gpu": "off",
            "redis": [{"name": "main", "url": url_a}, {"name": "second", "url": url_b}],
            "component_classes": [
                {
                    "name": "cpu",
                    "workload": {"name": "component-cpu"},
                    "queues": [
                        {"name": "q-a", "kind": "redis_list", "key": "q:a", "target": "main"},
                        {"name": "q-b", "kind": "redis_list", "key": "q:b", "target": "second"},
                        {"name": "q-c", "kind": "redis_list", "key": "q:c", "target": "main"},
                    ],
                    "scale_on": [{"metric": "queue_depth", "target_average_value": 5}],
                }
            ],
            "metrics_api": {"external": [depth]},
        }
    )


@pytest.fixture
def two_redis():
    with redis_server() as a, redis_server() as b:
        ra = redis_lib.Redis.from_url(a.extra["url"])
        rb = redis_lib.Redis.from_url(b.extra["url"])
        ra.lpush("q:a", *range(40))
        ra.lpush("q:c", *range(3))
        rb.lpush("q:b", *range(7))
        yield a, b, ra, rb


async def test_all_queues_up_serves_the_whole_sum(two_redis):
    a, b, _, _ = two_redis
    world = World(_config(a.extra["url"], b.extra["url"]))
    try:
        await world.collect()
        code, body = await world.get()
        assert code == 200
        items = {i["metricLabels"]["queue"]: i["value"] for i in body["items"]}
        assert items == {"q-a": "40", "q-b": "7", "q-c": "3"}
        age = world.snapshot.value(
            "metrics_api_value_age_seconds", {"api": "external", "metric": "queue_depth"}
        )
        assert age is not None and 0 <= age < 5
    finally:
        await world.close()


async def _second_target_down(two_redis, fallback: float | None = None) -> tuple[World, int, dict]:
    a, b, _, _ = two_redis
    b.proc.kill()
    b.proc.wait()
    world = World(_config(a.extra["url"], b.extra["url"], fallback))
    return world, *(await world.collect_get())


async def test_one_target_down_is_503_not_a_partial_sum(two_redis):
    world, code, body = await _second_target_down(two_redis)
    try:
        assert code == 503, body
        assert body["reason"] == "ServiceUnavailable"
        assert "q-b" in body["message"] and "queue_up 0" in body["message"]
    finally:
        await world.close()


async def test_one_target_down_serves_the_flagged_fallback(two_redis):
    world, code, body = await _second_target_down(two_redis, fallback=100)
    try:
        assert code == 200
        assert [i["value"] for i in body["items"]] == ["100"]
        flag = world.snapshot.value(
            "metrics_api_fallback_active", {"api": "external", "metric": "queue_depth"}
        )
        assert flag == 1.0
    finally:
        await world.close()


async def test_wrong_key_type_at_start_is_503(two_redis):
    a, b, _, rb = two_redis
    rb.delete("q:b")
    rb.set("q:b", "not a list")
    async with World(_config(a.extra["url"], b.extra["url"])) as world:
        code, body = await world.collect_get()
    assert code == 503 and "q-b" in body["message"]


async def test_key_turning_wrongtype_while_running_is_503_then_recovers(two_redis):
    a, b, ra, _ = two_redis
    world = World(_config(a.extra["url"], b.extra["url"]))
    try:
        await world.collect()
        assert (await world.get())[0] == 200
        ra.delete("q:c")
        ra.hset("q:c", "x", "1")
        code, body = await world.collect_get()
        assert code == 503 and "q-c" in body["message"], body
        ra.delete("q:c")
        ra.lpush("q:c", 1)
        code, body = await world.collect_get()
        assert code == 200
        assert sorted(i["value"] for i in body["items"]) == ["1", "40", "7"]
    finally:
        await world.close()


async def test_before_the_first_collection_is_503_not_an_empty_200(two_redis):
    a, b, _, _ = two_redis
    async with World(_config(a.extra["url"], b.extra["url"]), ready=False) as world:
        code, body = await world.get()
        assert code == 503 and "first collection" in body["message"]
        world.is_ready = True  # ready but nothing read: every configured queue is missing
        code, body = await world.get()
        assert code == 503 and "has not been read yet" in body["message"]


async def test_stale_after_the_configured_intervals(two_redis):
    a, b, _, _ = two_redis
    config = _config(a.extra["url"], b.extra["url"])
    clock = {"now": 0.0}
    snapshot = Snapshot()
    runtime = Runtime(snapshot, queues.build(config))
    for collector in runtime.collectors:
        await runtime.run_once(collector)

    start = time.time()
    app = create_app(config, snapshot, lambda: True, None, clock=lambda: clock["now"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        clock["now"] = start + 2.5  # 3 intervals of 1 s: still fresh
        assert (await http.get(PATH, params=SELECT)).status_code == 200
        age = snapshot.value(
            "metrics_api_value_age_seconds", {"api": "external", "metric": "queue_depth"}
        )
        assert age is not None and 2.4 <= age <= 3.0  # the age served is exported
        clock["now"] = start + 3.5
        resp = await http.get(PATH, params=SELECT)
        assert resp.status_code == 503
        assert "stale after 3s" in json.loads(resp.content)["message"]
    await runtime.stop()


async def test_a_target_dying_while_running_is_503_at_the_next_cycle(two_redis):
    a, b, _, _ = two_redis
    async with World(_config(a.extra["url"], b.extra["url"])) as world:
        assert (await world.collect_get())[0] == 200
        b.proc.kill()
        b.proc.wait()
        code, body = await world.collect_get()  # not after 3 intervals of the last value
    assert code == 503 and "q-b" in body["message"] and "queue_up 0" in body["message"]
