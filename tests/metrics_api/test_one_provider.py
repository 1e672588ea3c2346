"""One metrics provider per process: the metrics API, the status board and the KEDA scaler.

In process, on one event loop: the real metrics-API app, the real status board and the real
gRPC scaler (a client from the upstream proto), all on ONE provider, against a recording
Prometheus stand-in that is stopped and started again. The fallback flag of a metric is 1
from the first failed read to the first good one, whichever of the three asks; and the
stand-in counts what Prometheus is asked: one query per distinct query per interval with the
shared provider, against one per caller with a provider each (how `exporter serve` was wired
before: the "before" figure is measured in the same test).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from exporter.config import Config
from exporter.keda import listener as keda_listener
from exporter.metrics_api.app import create_app
from exporter.metrics_api.providers import build_provider
from exporter.metrics_api.quantity import parse_quantity
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from exporter.status import StatusBoard
from tests.support.keda_client import connect, message, ref
from tests.support.prometheus_standin import prometheus_standin
from tests.support.servers import free_port

INTERVAL = 1.0
FALLBACK = 7
BACKLOG = "sum(backlog{{selector}})"
STREAMS = 'sum by (pod) (sse_streams_active{namespace="{namespace}",{selector}})'
EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/backlog"
CUS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/platform/pods/*/sse_streams_active"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _config(prometheus: str, grpc_port: int) -> Config:
    return Config.model_validate(
        {
            "environment": "dev",
            "namespace": "platform",
            "gpu": "off",
            "kubernetes": {"enabled": "off"},
            "listen": {"grpc": f"127.0.0.1:{grpc_port}"},
            "autoscaling": {"keda": {"plaintext": True}},
            "collection": {"interval_seconds": INTERVAL, "timeout_seconds": 0.5},
            "prometheus": {"url": prometheus, "timeout_seconds": 2},
            "metrics_api": {
                "external": [
                    {"name": "backlog", "source": "promql", "query": BACKLOG, "fallback": FALLBACK}
                ],
                "custom": [
                    {"name": "sse_streams_active", "source": "promql", "query": STREAMS,
                     "fallback": 1}
                ],
            },
            "component_classes": [
                {
                    "name": "cpu",
                    "workload": {"name": "cpu"},
                    "metrics": {"pod_labels": {"app": "cpu"}},
                    "scale_on": [
                        {"metric": "backlog", "target_average_value": 2},
                        {"metric": "sse_streams_active", "type": "pods",
                         "target_average_value": 4},
                    ],
                }
            ],
        }
    )  # fmt: skip


def _body(now: float, value: float) -> bytes:
    rows = [{"metric": {"component_class": "cpu", "pod": "cpu-0"}, "value": [now, str(value)]}]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": rows}}
    ).encode()


class Consumers:
    """The three callers of the provider, as `exporter serve` runs them."""

    def __init__(self, config: Config, snapshot: Snapshot, clock: Clock, shared: bool) -> None:
        self.config, self.snapshot, self.clock = config, snapshot, clock
        runtime = Runtime(snapshot, [])
        runtime.ready.set()
        self.runtime = runtime
        self.provider = None
        if shared:  # what serve() builds: one provider, PromQL answers kept an interval
            self.provider = build_provider(
                config, snapshot, runtime.ready.is_set, clock, cache_seconds=INTERVAL
            )
        self.app = create_app(config, snapshot, runtime.ready.is_set, None, clock, self.provider)
        self.board = StatusBoard(config, snapshot, runtime, self.provider, clock=clock)

    async def __aenter__(self) -> Consumers:
        self.scaler = await keda_listener.start(
            self.config, self.snapshot, self.runtime, provider=self.provider
        )
        self.client = connect(self.config.listen.grpc)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://api"
        )
        return self

    async def __aexit__(self, *exc) -> None:
        self.client.close()
        await self.http.aclose()
        await self.scaler.stop(0)
        await self.board.stop()
        await self.app.aclose()
        if self.provider is not None:
            await self.provider.aclose()

    # each returns (value, fallback?) as that caller sees it
    async def api(self) -> tuple[float, bool]:
        resp = await self.http.get(EXT, params={"labelSelector": "component_class=cpu"})
        assert resp.status_code == 200, resp.text
        await self.http.get(CUS, params={"labelSelector": "app=cpu"})  # as the HPA asks
        [item] = resp.json()["items"]
        value = parse_quantity(item["value"])
        return value, self.flag() == 1

    async def board_(self) -> tuple[float, bool]:
        await self.board.sync()
        row = next(c for c in self.board.document()["classes"] if c["name"] == "cpu")
        sig = next(s for s in row["signals"] if s["metric"] == "backlog")
        return sig["value"], sig["fallback"]

    async def keda(self) -> tuple[float, bool]:
        meta = {"componentClass": "cpu", "metric": "backlog"}
        req = message("GetMetricsRequest", scaledObjectRef=ref(**meta))
        resp = await asyncio.to_thread(self.client.GetMetrics, req, timeout=5)
        return resp.metricValues[0].metricValueFloat, self.flag() == 1

    def flag(self, api: str = "external", metric: str = "backlog") -> float | None:
        labels = {"api": api, "metric": metric}
        return self.snapshot.value("metrics_api_fallback_active", labels)

    def callers(self):
        return {"api": self.api, "board": self.board_, "scaler": self.keda}


def _counts(standin, since: int) -> Counter:
    """Queries received since the `since`-th, by metric."""
    return Counter(
        "sse_streams_active" if "sse_streams_active" in q else "backlog"
        for q in standin.queries()[since:]
    )


@pytest.mark.parametrize("first", ["api", "board", "scaler"])
async def test_fallback_flag_is_the_metrics_whoever_asks(tmp_path, first):
    clock = Clock()
    with prometheus_standin(tmp_path) as standin:
        standin.answer(_body(clock.now, 12))
        config = _config(standin.url, free_port())
        async with Consumers(config, Snapshot(), clock, shared=True) as c:
            callers = c.callers()
            others = [name for name in callers if name != first]
            for name in (first, *others):
                assert await callers[name]() == (12, False), name
            assert c.flag() == 0

            standin.stop()  # Prometheus is gone
            clock.now += INTERVAL
            # the first failed read, by `first`, sets the flag; the others see the fallback
            assert await callers[first]() == (FALLBACK, True)
            assert c.flag() == 1
            for name in others:
                assert await callers[name]() == (FALLBACK, True), name
                assert c.flag() == 1
            # the pods list has no single value a fallback could stand for (503), yet its
            # source fails and it has a fallback: its flag is 1 too, not reset to 0
            resp = await c.http.get(CUS, params={"labelSelector": "app=cpu"})
            assert resp.status_code == 503
            assert c.flag("custom", "sse_streams_active") == 1
            board = next(r for r in c.board.document()["classes"] if r["name"] == "cpu")
            sig = next(s for s in board["signals"] if s["metric"] == "backlog")
            assert sig["fallback_reason"].startswith("Prometheus "), sig  # refused (or timed out)

            standin.start()  # back on the same port
            standin.answer(_body(clock.now, 12))
            clock.now += INTERVAL
            # the first good read, by whoever comes last in the order above, clears it
            last = others[-1]
            assert await callers[last]() == (12, False)
            assert c.flag() == 0
            for name in (first, *others[:-1]):
                assert await callers[name]() == (12, False), name
                assert c.flag() == 0


async def test_one_query_per_metric_per_interval_not_one_per_caller(tmp_path):
    """Each caller asks once per round, rounds one interval apart: the API for both metrics
    (as the HPA controller does), the board for both, the scaler for the external one. A
    provider per caller (before): one query per caller; the shared provider: one per
    metric per round. Then a burst of concurrent API calls within one interval: one query."""
    clock = Clock()
    rounds = 5
    per_round = {}
    with prometheus_standin(tmp_path) as standin:
        for shared in (False, True):
            config = _config(standin.url, free_port())
            async with Consumers(config, Snapshot(), clock, shared) as c:
                since = len(standin.queries())
                for _ in range(rounds):
                    clock.now += INTERVAL
                    standin.answer(_body(clock.now, 12))
                    for call in c.callers().values():
                        assert await call() == (12, False)
                counts = _counts(standin, since)
                per_round[shared] = {k: v / rounds for k, v in sorted(counts.items())}
                if shared:
                    clock.now += INTERVAL
                    since = len(standin.queries())
                    await asyncio.gather(*(c.api() for _ in range(10)))
                    burst = dict(_counts(standin, since))
    print(
        f"PromQL queries per metric per interval: before {per_round[False]}, "
        f"after {per_round[True]}; 10 concurrent API calls: {burst}"
    )
    assert per_round[False] == {"backlog": 3, "sse_streams_active": 2}
    assert per_round[True] == {"backlog": 1, "sse_streams_active": 1}
    assert burst == {"backlog": 1, "sse_streams_active": 1}
