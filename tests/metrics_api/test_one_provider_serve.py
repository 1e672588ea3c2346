"""`exporter serve` builds one metrics provider and hands it to all three of its callers.

A real `exporter serve` against a recording Prometheus stand-in: while the test polls the
external metrics API and the KEDA scaler ten times per collection interval (and the status
board syncs once per interval on its own), Prometheus is asked at most once per interval for
the metric (plus one for the interval the window starts in). With the stand-in stopped, the
configured fallback is served by the API and the scaler and shown by the board, with
`metrics_api_fallback_active` 1 throughout; started again, every caller gets the fresh value
and the flag is 0.
"""

from __future__ import annotations

import json
import time

import httpx
import yaml

from exporter.metrics_api.quantity import parse_quantity
from tests.support.keda_client import connect, message, ref
from tests.support.prometheus_standin import prometheus_standin
from tests.support.servers import exporter_process, free_port, sample_value, wait_for

INTERVAL = 1.0
FALLBACK = 7
EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/backlog"
CUS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/platform/pods/*/sse_streams_active"


def _config(ports: dict[str, int], prometheus: str) -> str:
    return yaml.safe_dump(
        {
            "environment": "dev",
            "namespace": "platform",
            "gpu": "off",
            "postgres": [],
            "redis": [],
            "kubernetes": {"enabled": "off"},
            "listen": {k: f"127.0.0.1:{v}" for k, v in ports.items()},
            "autoscaling": {"keda": {"plaintext": True}},
            "collection": {"interval_seconds": INTERVAL, "timeout_seconds": 0.5},
            "prometheus": {"url": prometheus, "timeout_seconds": 0.5},
            "metrics_api": {
                "external": [
                    {
                        "name": "backlog",
                        "source": "promql",
                        "query": "sum(backlog{{selector}})",
                        "fallback": FALLBACK,
                    }
                ],
                "custom": [
                    {
                        "name": "sse_streams_active",
                        "source": "promql",
                        "query": "sum by (pod) (sse_streams_active{{selector}})",
                        "fallback": 1,
                    }
                ],
            },
            "component_classes": [
                {
                    "name": "cpu",
                    "workload": {"name": "cpu"},
                    "metrics": {"pod_labels": {"app": "cpu"}},
                    "scale_on": [
                        {"metric": "backlog", "target_average_value": 2},
                        {"metric": "sse_streams_active", "type": "pods", "target_average_value": 4},
                    ],
                }
            ],
        }
    )


def _body(value: float) -> bytes:
    labels = {"component_class": "cpu", "pod": "cpu-0"}
    rows = [{"metric": labels, "value": [time.time(), str(value)]}]
    doc = {"status": "success", "data": {"resultType": "vector", "result": rows}}
    return json.dumps(doc).encode()


class Callers:
    def __init__(self, ports: dict[str, int]) -> None:
        self.http = f"http://127.0.0.1:{ports['http']}"
        self.https = f"https://127.0.0.1:{ports['https']}"
        self.client = connect(f"127.0.0.1:{ports['grpc']}")

    def api(self) -> float | None:
        try:
            resp = httpx.get(
                self.https + EXT,
                params={"labelSelector": "component_class=cpu"},
                verify=False,
                timeout=5,
            )
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        return sum(parse_quantity(i["value"]) for i in resp.json()["items"])

    def scaler(self) -> float:
        meta = {"componentClass": "cpu", "metric": "backlog"}
        req = message("GetMetricsRequest", scaledObjectRef=ref(**meta))
        return self.client.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat

    def board(self) -> dict:
        doc = httpx.get(f"{self.http}/status.json", timeout=5).json()
        row = next(c for c in doc["classes"] if c["name"] == "cpu")
        return row["signals"][0] if row.get("signals") else {}

    def pods(self) -> int:
        """The HPA's Pods read: the status code of `pods/*/sse_streams_active`."""
        resp = httpx.get(self.https + CUS, params={"labelSelector": "app=cpu"}, verify=False)
        return resp.status_code

    def flag(self, api: str = "external", metric: str = "backlog") -> float | None:
        text = httpx.get(f"{self.http}/metrics", timeout=5).text
        return sample_value(text, "metrics_api_fallback_active", api=api, metric=metric)


def test_serve_shares_one_provider(tmp_path):
    with prometheus_standin(tmp_path) as standin:
        standin.answer(_body(12))
        ports = {"http": free_port(), "https": free_port(), "grpc": free_port()}
        with exporter_process(_config(ports, standin.url)) as proc:
            c = Callers(ports)
            try:
                wait_for(lambda: c.api() == 12, timeout=30, what=f"API up ({proc.extra['log']})")
                wait_for(lambda: c.board().get("value") == 12, timeout=10, what="board")

                # 10 polls per interval by the API and the scaler, the board on its own
                since = len(standin.queries())
                start = time.monotonic()
                while time.monotonic() - start < 4 * INTERVAL:
                    assert c.api() == 12 and c.scaler() == 12 and c.pods() == 200
                    time.sleep(INTERVAL / 10)
                elapsed = time.monotonic() - start
                queries = standin.queries()[since:]
                for metric in ("backlog", "sse_streams_active"):
                    asked = sum(metric in q for q in queries)
                    print(f"{metric}: {asked} PromQL queries in {elapsed:.1f} s "
                          f"(interval {INTERVAL:g} s)")  # fmt: skip
                    assert asked <= elapsed / INTERVAL + 2

                standin.stop()
                wait_for(lambda: c.flag() == 1, timeout=10, what="fallback flag set")
                wait_for(lambda: c.board().get("fallback"), timeout=10, what="board: fallback")
                for _ in range(5):  # every caller sees the fallback; the flag stays 1
                    assert c.api() == FALLBACK and c.flag() == 1
                    assert c.scaler() == FALLBACK and c.flag() == 1
                    sig = c.board()
                    assert sig["fallback"] and sig["value"] == FALLBACK and c.flag() == 1
                    # a list of pods cannot be a fallback (503), but its source is failing
                    # and it has one: its flag is 1 as well, whoever asked last
                    assert c.pods() == 503 and c.flag("custom", "sse_streams_active") == 1
                    time.sleep(INTERVAL / 4)

                standin.answer(_body(12))
                standin.start()
                wait_for(lambda: c.flag() == 0, timeout=10, what="fallback flag cleared")
                wait_for(lambda: c.board().get("fallback") is False, timeout=10, what="board")
                for _ in range(5):
                    assert c.api() == 12 and c.flag() == 0
                    assert c.scaler() == 12 and c.flag() == 0
                    sig = c.board()
                    assert not sig["fallback"] and sig["value"] == 12 and c.flag() == 0
                    assert c.pods() == 200 and c.flag("custom", "sse_streams_active") == 0
                    time.sleep(INTERVAL / 4)
            finally:
                c.client.close()
