"""What the HPA controller would do with our external metric, while a queue grows and drains.

The controller's documented algorithm for an External metric with an AverageValue target
(pkg/controller/podautoscaler/replica_calculator.go, GetExternalMetricReplicas):

    total      = sum of the items' MilliValue() for the metric and selector
    usageRatio = total / (target * currentReplicas)
    if |usageRatio - 1| <= 0.1 (the default tolerance): keep currentReplicas
    else: desired = ceil(total / target)
    then clamp to [minReplicas, maxReplicas]

(`behavior` rate limits and the stabilisation window are a later, separate step.) The values
come from our API over TLS, exactly as the HPA would read them.
"""

from __future__ import annotations

import math
import time

import pytest

from exporter import catalog
from exporter.metrics_api.quantity import parse_quantity
from exporter.snapshot import Sample
from tests.support.metrics_api_harness import build_config, client, make_pki, running_api
from tests.support.servers import free_port

TOLERANCE = 0.1


def desired_replicas(total: float, current: int, target: float, lo: int, hi: int) -> int:
    total_milli = round(total * 1000)
    target_milli = round(target * 1000)
    ratio = total_milli / (target_milli * current)
    desired = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(total_milli / target_milli)
    return max(lo, min(hi, desired))


async def _total(c, url: str, cls: str) -> float:
    resp = await c.get(
        url + "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth",
        params={"labelSelector": f"component_class={cls}"},
    )
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert items, "the HPA would fail on an empty list"
    return sum(parse_quantity(i["value"]) for i in items)


@pytest.mark.parametrize(
    "cls, depths, expected",
    [
        # gpu: 2 jobs per replica, 1..8 replicas. 11 jobs on 6 replicas is inside the
        # tolerance band (11/12 = 0.92), so the controller keeps 6.
        (
            "gpu",
            [0, 1, 3, 5, 9, 16, 30, 12, 11, 4, 0],
            [1, 1, 2, 3, 5, 8, 8, 6, 6, 2, 1],
        ),
        # memory: 5 jobs per replica, 2..6 replicas (never below 2, even when idle)
        ("memory", [0, 12, 40, 26, 7, 0], [2, 3, 6, 6, 2, 2]),
    ],
)
async def test_replicas_follow_the_queue(tmp_path, cls, depths, expected):
    pki = make_pki(tmp_path)
    config = build_config(pki, free_port())
    klass = config.component_class(cls)
    [scale] = klass.scale_on
    async with running_api(config) as api, client(pki, pki.proxy) as c:
        current = klass.min_replicas
        seen = []
        for depth in depths:
            # the class's work is split over two queues; another class's queue is noise
            api.snapshot.replace(
                "queues",
                [
                    Sample(catalog.QUEUE_DEPTH, {"component_class": cls, "queue": "a"}, depth // 2),
                    Sample(
                        catalog.QUEUE_DEPTH,
                        {"component_class": cls, "queue": "b"},
                        depth - depth // 2,
                    ),
                    Sample(catalog.QUEUE_DEPTH, {"component_class": "other", "queue": "x"}, 1000),
                ],
            )
            total = await _total(c, api.url, cls)
            assert total == depth
            current = desired_replicas(
                total, current, scale.target_average_value, klass.min_replicas, klass.max_replicas
            )
            seen.append(current)
    assert seen == expected


def test_the_formula_itself():
    # spot checks of the documented algorithm, independent of the API
    assert desired_replicas(10, 1, 2, 1, 8) == 5
    assert desired_replicas(21, 10, 2, 1, 20) == 10  # 21/20 = 1.05: within tolerance
    assert desired_replicas(23, 10, 2, 1, 20) == 12  # 1.15: scale to ceil(11.5)
    assert desired_replicas(0.5, 1, 2, 1, 8) == 1


def test_replicas_follow_a_real_redis_queue(redis):
    """The same computation end to end: jobs pushed to and popped from a real Redis list,
    read by the real queue collector in `exporter serve`, answered over HTTPS."""
    import httpx
    import redis as redis_lib

    from tests.metrics_api.test_freshness import QUEUE, _config
    from tests.support.servers import exporter_process, wait_for

    key = f"hpa:{time.time_ns()}"
    r = redis_lib.Redis.from_url(redis.extra["url"])
    https = free_port()
    base = f"https://127.0.0.1:{https}"
    current, seen = 1, []  # gpu: 2 jobs per replica, 1..8 replicas
    with exporter_process(_config(free_port(), https, redis.extra["url"], key)):
        with httpx.Client(verify=False, timeout=2) as c:

            def answer(want: int) -> tuple[float] | None:
                """The API's total once it shows `want` (a tuple: 0 jobs is a real answer)."""
                resp = c.get(base + QUEUE, params={"labelSelector": "component_class=gpu"})
                if resp.status_code != 200 or not resp.json()["items"]:
                    return None
                value = sum(parse_quantity(i["value"]) for i in resp.json()["items"])
                return (value,) if value == want else None

            for depth in (0, 7, 20, 11, 3, 0):
                have = r.llen(key)
                if depth > have:
                    r.lpush(key, *range(depth - have))
                elif depth < have:
                    r.rpop(key, have - depth)  # workers take the oldest jobs
                [value] = wait_for(lambda d=depth: answer(d), timeout=10, what=f"{depth} jobs")
                current = desired_replicas(value, current, 2, 1, 8)
                seen.append(current)
    r.delete(key)
    # 11 jobs on 8 replicas: ratio 0.69 -> 6; 3 jobs -> 2; empty -> the minimum
    assert seen == [1, 4, 8, 6, 2, 1]
