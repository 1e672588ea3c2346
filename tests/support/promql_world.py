"""A PromQL-sourced metrics API against the Prometheus stand-in, and a `/metrics` prober.

Both apps run in the test's event loop (the real ASGI apps, in process), so time the loop
spends blocked shows up as `/metrics` latency, as it would in `exporter serve`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from typing import Any

import httpx

from exporter.config import Config
from exporter.http_app import create_app as create_http_app
from exporter.metrics_api.app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot

EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/"
# the Namespace object's value: every series summed into one (a small answer to serve)
NAMESPACE_VALUE = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/platform/metrics/"
QUERY = 'sum by (pod) (load{namespace="{namespace}"})'


def promql_config(url: str, **prometheus: Any) -> Config:
    return Config.model_validate(
        {
            "namespace": "platform",
            "gpu": "off",
            "prometheus": {"url": url, "timeout_seconds": 30, **prometheus},
            "metrics_api": {
                "external": [
                    {"name": "load", "source": "promql", "query": QUERY},
                    {"name": "load_fb", "source": "promql", "query": QUERY, "fallback": 5},
                ],
                "custom": [{"name": "load", "source": "promql", "query": QUERY}],
            },
        }
    )


def vector_body(series: int, pad: int = 0) -> bytes:
    """A well-formed vector answer of `series` rows (labels padded by `pad` characters)."""
    rows = [
        {"metric": {"pod": f"pod-{i}", "namespace": "platform", "x": "y" * pad},
         "value": [1_800_000_000.5, str(i % 100)]}
        for i in range(series)
    ]  # fmt: skip
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": rows}}
    ).encode()


class World:
    def __init__(self, config: Config) -> None:
        self.snapshot = Snapshot()
        runtime = Runtime(self.snapshot, [])
        self.api = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=create_app(config, self.snapshot, lambda: True, None)
            ),
            base_url="http://api",
            timeout=60,
        )
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_http_app(self.snapshot, runtime)),
            base_url="http://exporter",
        )

    async def get(self, metric: str = "load", prefix: str = EXT) -> tuple[int, dict]:
        resp = await self.api.get(prefix + metric)
        return resp.status_code, resp.json()

    async def metrics_latencies_during(self, metric: str) -> tuple[list[float], int]:
        """`/metrics` latencies (seconds), probed every 5 ms while the Namespace value of
        `metric` is fetched, and the API's status code."""
        # a full cyclic-GC pass over this test process's heap (far larger than the
        # exporter's) would land on whichever probe is running: start from a clean slate
        gc.collect()
        task = asyncio.create_task(self.get(metric, NAMESPACE_VALUE))
        latencies = []
        while not task.done():
            started = time.perf_counter()
            resp = await self.http.get("/metrics")
            assert resp.status_code == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
        code, _ = await task
        return latencies, code

    async def close(self) -> None:
        await self.api.aclose()
        await self.http.aclose()


def p99(latencies: list[float]) -> float:
    if len(latencies) < 2:
        return max(latencies, default=0.0)
    return statistics.quantiles(latencies, n=100)[98]
