"""A real `exporter serve` with its KEDA scaler on TLS, over a real Redis, for the scaler tests.

The server certificate comes from a throwaway CA (tests/pki.py); the scaler and the metrics
API serve it (the same certificate handling), and the client trusts that CA.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from exporter.metrics_api.quantity import parse_quantity
from tests.support.keda_client import ScalerClient, connect
from tests.support.pki import CA, Pair
from tests.support.servers import Server, exporter_process, free_port, scrape, wait_for

INTERVAL = 1.0


@dataclass
class Scaler:
    grpc: str
    http: str
    https: str
    ca: CA
    log: Path
    workdir: Path
    server: Server

    def client(self, cert: Pair | None = None, own_connection: bool = False) -> ScalerClient:
        creds = {}
        if cert is not None:
            creds = {
                "private_key": cert.key_path.read_bytes(),
                "certificate_chain": cert.cert_path.read_bytes(),
            }
        return connect(self.grpc, self.ca.pem.encode(), own_connection, **creds)

    def metrics(self) -> str:
        return scrape(f"{self.http}/metrics")

    def external_total(self, metric: str, cls: str) -> float:
        """The external metrics API's answer for the class, summed as the HPA would."""
        resp = httpx.get(
            f"{self.https}/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/{metric}",
            params={"labelSelector": f"component_class={cls}"},
            verify=ssl.create_default_context(cafile=str(self.ca.path)),
            timeout=5,
        )
        resp.raise_for_status()
        return sum(parse_quantity(item["value"]) for item in resp.json()["items"])


def config_text(redis_url: str, ports: dict[str, int], tls: Pair, extra: str = "") -> str:
    return f"""
environment: dev
listen:
  http: "127.0.0.1:{ports["http"]}"
  https: "127.0.0.1:{ports["https"]}"
  grpc: "127.0.0.1:{ports["grpc"]}"
collection: {{interval_seconds: {INTERVAL}, timeout_seconds: 0.5}}
redis: [{{name: main, url: "{redis_url}"}}]
gpu: off
kubernetes: {{enabled: off}}
metrics_api:
  tls: {{cert_file: "{tls.cert_path}", key_file: "{tls.key_path}"}}
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    scale_to_zero: true
    queues: [{{name: "jobs:gpu", kind: redis_list, key: "keda:jobs:gpu"}}]
    scale_on: [{{metric: queue_depth, target_average_value: 2, activation_threshold: 0}}]
  - name: cpu
    workload: {{name: component-cpu}}
    queues: [{{name: "jobs:cpu", kind: redis_list, key: "keda:jobs:cpu"}}]
    scale_on: [{{metric: queue_depth, target_average_value: 10, activation_threshold: 5}}]
{extra}"""


@contextlib.contextmanager
def scaler_process(redis_url: str, extra: str = "", env: dict | None = None) -> Iterator[Scaler]:
    workdir = Path(tempfile.mkdtemp(prefix="keda-pki-"))
    ca = CA("scaler-test", workdir)
    tls = ca.issue("exporter", client=False, hosts=("127.0.0.1", "localhost"))
    ports = {k: free_port() for k in ("http", "https", "grpc")}
    with exporter_process(config_text(redis_url, ports, tls, extra), env=env) as proc:
        scaler = Scaler(
            f"127.0.0.1:{ports['grpc']}",
            f"http://127.0.0.1:{ports['http']}",
            f"https://127.0.0.1:{ports['https']}",
            ca,
            proc.extra["log"],
            workdir,
            proc,
        )
        wait_for(
            lambda: (
                proc.proc.poll() is not None
                or httpx.get(f"{scaler.http}/readyz", timeout=1).status_code == 200
            ),
            what="exporter ready",
        )
        if proc.proc.poll() is not None:
            raise RuntimeError(f"exporter exited: {scaler.log.read_text()[-2000:]}")
        yield scaler
