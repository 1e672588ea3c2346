"""A class scaled on a per-pod custom metric (in-flight SSE streams), end to end.

Three stand-in pods expose `sse_streams_active` (the instrumentation's metric, rendered by
prometheus_client) and a real Prometheus scrapes them with the labels kubernetes_sd gives
pods. A real `exporter serve` serves the metric on the custom metrics API from PromQL and
through its KEDA scaler. Under `hpa` the generated HPA has a `type: Pods` target; the answer
the HPA controller asks for (`pods/*/sse_streams_active?labelSelector=<the workload's pod
selector>`) exists and gives the replica count its formula expects. Under `keda` the scaler
serves the class total, which KEDA's AverageValue target turns into the same count.
"""

from __future__ import annotations

import math

import httpx
import yaml

from exporter.config import Config
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from exporter.generators.k8s.keda import scaled_object
from exporter.metrics_api.quantity import parse_quantity
from tests.support.keda_client import connect, message, ref
from tests.support.servers import exporter_process, free_port, prometheus_process, wait_for
from tests.support.stub_http import StubServer

TARGET = 10  # streams per pod
TOLERANCE = 0.1
STREAMS = {"engine-0": 12, "engine-1": 25, "engine-2": 8}


class Pod(StubServer):
    """A pod's /metrics as the instrumentation renders it, with a settable stream count."""

    def __init__(self, streams: int, component_class: str = "engine") -> None:
        self.streams = streams
        self.component_class = component_class
        super().__init__(self.exposition)

    def exposition(self, _request: object) -> tuple[str, bytes]:
        return "text/plain; version=0.0.4", (
            "# HELP sse_streams_active Server-Sent-Events streams open now.\n"
            "# TYPE sse_streams_active gauge\n"
            f'sse_streams_active{{component_class="{self.component_class}",route="/events"}}'
            f" {self.streams}\n"
        ).encode()


def config_dict(ports: dict[str, int], prometheus_url: str, engine: str) -> dict:
    return {
        "environment": "dev",
        "namespace": "platform",
        "listen": {f"{k}": f"127.0.0.1:{v}" for k, v in ports.items()},
        "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
        "gpu": "off",
        "kubernetes": {"enabled": "off"},
        "prometheus": {"url": prometheus_url, "timeout_seconds": 1},
        "autoscaling": {"engine": engine, "keda": {"plaintext": True}},
        "metrics_api": {
            "custom": [
                {
                    "name": "sse_streams_active",
                    "source": "promql",
                    "query": 'sum by (pod) (sse_streams_active{namespace="{namespace}",{selector}})',
                }
            ]
        },
        "component_classes": [
            {
                "name": "engine",
                "workload": {"name": "engine"},
                "min_replicas": 1,
                "max_replicas": 10,
                "scale_on": [
                    {"metric": "sse_streams_active", "type": "pods", "target_average_value": TARGET}
                ],
            }
        ],
    }


def pods_desired(values: list[float], target: float, lo: int, hi: int) -> int:
    """The HPA controller's Pods/AverageValue rule (GetMetricReplicas): the mean per ready
    pod against the target, with the 10 % tolerance, as a count of pods."""
    ratio = (sum(values) / len(values)) / target
    current = len(values)
    desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * current)
    return max(lo, min(hi, desired))


def external_desired(total: float, target: float, current: int, lo: int, hi: int) -> int:
    """KEDA's HPA on our external-push trigger: an External AverageValue target."""
    ratio = total / (target * current)
    desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(total / target)
    return max(lo, min(hi, desired))


def test_per_pod_streams_drive_hpa_and_keda_alike():
    pods = {name: Pod(n) for name, n in STREAMS.items()}
    web = Pod(40, component_class="web")
    scrape_configs = [
        {
            "job_name": name,
            "static_configs": [
                {
                    "targets": [pod.address],
                    "labels": {"namespace": "platform", "pod": name, "app": "engine"},
                }
            ],
        }
        for name, pod in pods.items()
    ] + [  # a pod of another class with the same metric: neither selector takes it
        {
            "job_name": "web",
            "static_configs": [
                {
                    "targets": [web.address],
                    "labels": {"namespace": "platform", "pod": "web-0", "app": "web"},
                }
            ],
        }
    ]
    try:
        with prometheus_process(scrape_configs) as prom:
            ports = {"http": free_port(), "https": free_port(), "grpc": free_port()}
            data = config_dict(ports, prom.extra["url"], "hpa")
            config = Config.model_validate(data)
            hpa = horizontal_pod_autoscaler(config, config.component_class("engine"))
            [metric] = hpa["spec"]["metrics"]
            assert metric == {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "sse_streams_active"},
                    "target": {"type": "AverageValue", "averageValue": "10"},
                },
            }
            keda = Config.model_validate({**data, "autoscaling": {"engine": "keda"}})
            [trigger] = scaled_object(keda, keda.component_class("engine"))["spec"]["triggers"]
            assert trigger["metricType"] == "AverageValue"
            assert trigger["metadata"]["metric"] == "sse_streams_active"

            with exporter_process(yaml.safe_dump(data)):
                # what the HPA controller asks for: every pod its scale target selects
                url = (
                    f"https://127.0.0.1:{ports['https']}/apis/custom.metrics.k8s.io/v1beta2"
                    f"/namespaces/platform/pods/*/{metric['pods']['metric']['name']}"
                )

                def per_pod():
                    try:
                        resp = httpx.get(
                            url, params={"labelSelector": "app=engine"}, verify=False, timeout=2
                        )
                    except httpx.HTTPError:
                        return None
                    if resp.status_code != 200:
                        return None
                    items = resp.json()["items"]
                    got = {i["describedObject"]["name"]: parse_quantity(i["value"]) for i in items}
                    return got if len(got) == len(STREAMS) else None

                got = wait_for(per_pod, timeout=30, what="per-pod answer")
                assert got == STREAMS
                hpa_count = pods_desired(list(got.values()), TARGET, 1, 10)
                assert hpa_count == 5  # 45 streams on 3 pods, 10 per pod

                client = connect(f"127.0.0.1:{ports['grpc']}")
                meta = {"componentClass": "engine", "metric": "sse_streams_active"}
                req = message("GetMetricsRequest", scaledObjectRef=ref(**meta))
                [value] = client.GetMetrics(req, timeout=5).metricValues
                # the class total (the web pod's series carry component_class="web")
                assert value.metricValueFloat == sum(STREAMS.values())
                assert external_desired(value.metricValueFloat, TARGET, 3, 1, 10) == hpa_count
                assert client.IsActive(ref(**meta), timeout=5).result is True
                client.close()
    finally:
        for pod in [*pods.values(), web]:
            pod.close()
