"""Run the real metrics-API HTTPS listener (exporter.metrics_api.listener) inside a test's loop.

The listener is built by the same factory `exporter serve` uses, bound to a free loopback
port, with a snapshot the test writes into; clients talk to it over real TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from exporter.config import Config
from exporter.metrics_api.listener import https_listeners
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.pki import CA, Pair, client_context
from tests.support.servers import free_port

FRONT_PROXY_CN = "front-proxy-client"

BASE_CONFIG: dict[str, Any] = {
    "environment": "dev",
    "namespace": "platform",
    "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
    "component_classes": [
        {
            "name": "cpu",
            "workload": {"kind": "Deployment", "name": "component-cpu"},
            "min_replicas": 1,
            "max_replicas": 10,
            "scale_on": [{"metric": "queue_depth", "target_average_value": 10}],
        },
        {
            "name": "gpu",
            "workload": {"kind": "Deployment", "name": "component-gpu"},
            "min_replicas": 1,
            "max_replicas": 8,
            "scale_on": [{"metric": "queue_depth", "target_average_value": 2}],
        },
        {
            "name": "memory",
            "workload": {"kind": "StatefulSet", "name": "component-memory"},
            "min_replicas": 2,
            "max_replicas": 6,
            "scale_on": [{"metric": "queue_depth", "target_average_value": 5}],
        },
    ],
    "metrics_api": {
        "external": [
            {"name": "queue_depth", "source": "snapshot"},
            {"name": "queue_oldest_age_seconds", "source": "snapshot", "fallback": 0},
            {"name": "gpu_utilization_ratio", "source": "snapshot"},
        ],
        "custom": [
            {"name": "queue_depth", "source": "snapshot"},
            {"name": "queue_oldest_age_seconds", "source": "snapshot", "fallback": 7.5},
        ],
    },
}


@dataclass
class Pki:
    dir: Path
    server_ca: CA
    front_proxy_ca: CA
    other_ca: CA
    serving: Pair
    proxy: Pair  # CN front-proxy-client, signed by the front-proxy CA
    intruder: Pair  # same CN, signed by another CA
    stranger: Pair  # front-proxy CA, CN not in the allowed names


def make_pki(directory: Path) -> Pki:
    server_ca = CA("serving", directory)
    front = CA("front-proxy", directory)
    other = CA("other", directory)
    return Pki(
        dir=directory,
        server_ca=server_ca,
        front_proxy_ca=front,
        other_ca=other,
        serving=server_ca.issue("exporter", client=False, hosts=("localhost", "127.0.0.1")),
        proxy=front.issue(FRONT_PROXY_CN, client=True),
        intruder=other.issue(FRONT_PROXY_CN + "-x", client=True),
        stranger=front.issue("someone-else", client=True),
    )


def use_pki(data: dict, pki: Pki, allowed_names: list[str]) -> None:
    """Config `data`'s metrics API serves `pki`'s pair and trusts its front-proxy CA for
    the client names `allowed_names`."""
    data["metrics_api"]["tls"] = {
        "cert_file": str(pki.serving.cert_path),
        "key_file": str(pki.serving.key_path),
    }
    data["metrics_api"]["authentication"] = {
        "requestheader_client_ca_file": str(pki.front_proxy_ca.path),
        "requestheader_allowed_names": allowed_names,
    }


def build_config(pki: Pki | None, port: int, **overrides: Any) -> Config:
    data = copy.deepcopy(BASE_CONFIG)
    data["listen"] = {"http": "127.0.0.1:0", "https": f"127.0.0.1:{port}"}
    if pki is not None:
        use_pki(data, pki, [FRONT_PROXY_CN, "aggregator"])
    for key, value in overrides.items():
        node = data
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return Config.model_validate(data)


@dataclass
class Running:
    url: str
    config: Config
    snapshot: Snapshot
    runtime: Runtime


@contextlib.asynccontextmanager
async def running_api(
    config: Config, snapshot: Snapshot | None = None, runtime: Runtime | None = None
) -> AsyncIterator[Running]:
    snapshot = snapshot or Snapshot()
    runtime = runtime or Runtime(snapshot, [])  # no collectors: ready at once
    [(server, sock)] = https_listeners(config, snapshot, runtime)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "metrics API listener did not start"
        port = sock.getsockname()[1]
        yield Running(f"https://127.0.0.1:{port}", config, snapshot, runtime)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def client(pki: Pki, cert: Pair | None, user: str | None = "system:serviceaccount:kube-system:horizontal-pod-autoscaler", groups: tuple[str, ...] = ("system:serviceaccounts",)) -> httpx.AsyncClient:  # fmt: skip
    """An HTTPS client trusting the serving CA, presenting `cert`, sending the proxy headers."""
    headers: list[tuple[str, str]] = []
    if user is not None:
        headers.append(("X-Remote-User", user))
    headers += [("X-Remote-Group", g) for g in groups]
    return httpx.AsyncClient(
        verify=client_context(pki.server_ca.path, cert), headers=headers, timeout=5
    )


def free_https_port() -> int:
    return free_port()
