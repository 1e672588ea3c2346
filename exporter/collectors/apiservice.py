"""Who serves the cluster's metrics APIs: the APIServices of the groups this exporter serves.

A cluster has one APIService per group and version (`v1beta1.external.metrics.k8s.io`, KEDA
registers that very name; prometheus-adapter usually owns `v1beta2.custom.metrics.k8s.io`).
Per group: `exporter_apiservice_available` (its Available condition is True: the aggregator
reaches whoever owns it) and `exporter_apiservice_owned` (its `spec.service` is our Service).
A missing APIService is 0 and 0. The read runs in a thread with the collector's timeout; an
unreachable API server fails the run (stale values, `exporter_collector_up 0`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exporter import catalog, kube
from exporter.config import Config
from exporter.metrics_api.discovery import VERSIONS
from exporter.runtime import Collector
from exporter.snapshot import Sample

if TYPE_CHECKING:
    from kubernetes import client


def _available(obj: Any) -> float:
    for cond in (obj.status and obj.status.conditions) or []:
        if cond.type == "Available":
            return 1.0 if cond.status == "True" else 0.0
    return 0.0


def apiservice_samples(
    group: str, version: str, obj: Any | None, service: tuple[str, str]
) -> list[Sample]:
    """The two series for one group; `obj` is the APIService (None when absent) and
    `service` our (namespace, name)."""
    labels = {"group": group, "version": version}
    ref = obj.spec.service if obj is not None else None
    owned = ref is not None and (ref.namespace, ref.name) == service
    return [
        Sample(catalog.EXPORTER_APISERVICE_AVAILABLE, labels, _available(obj) if obj else 0.0),
        Sample(catalog.EXPORTER_APISERVICE_OWNED, labels, 1.0 if owned else 0.0),
    ]


class ApiServiceCollector(Collector):
    name = "apiservice"

    def __init__(self, config: Config, interval: float, timeout: float) -> None:
        super().__init__(interval, timeout)
        self.target = config.namespace
        self.service = (config.namespace, config.deployment.name)
        self.access = config.kubernetes
        self._api: client.ApiregistrationV1Api | None = None

    def _read(self, name: str) -> Any | None:
        from kubernetes import client  # imported on first use: see exporter.kube

        if self._api is None:
            self._api = client.ApiregistrationV1Api(kube.api_client(self.access))
        try:
            return self._api.read_api_service(name, _request_timeout=self.timeout)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise kube.KubeError(
                f"reading APIService {name}: HTTP {exc.status} {exc.reason}"
            ) from None

    def _read_all(self) -> list[Sample]:
        out: list[Sample] = []
        for group, version in VERSIONS.items():
            out += apiservice_samples(
                group, version, self._read(f"{version}.{group}"), self.service
            )
        return out

    async def collect(self) -> Sequence[Sample]:
        return await asyncio.to_thread(self._read_all)

    async def close(self) -> None:
        if self._api is not None:
            self._api.api_client.close()
            self._api = None


def build(config: Config) -> list[Collector]:
    """The collector when Kubernetes is reachable (both groups, registered or not: an alert
    can then tell "someone else owns this group" from "the aggregator cannot reach us")."""
    if not kube.enabled(config.kubernetes):
        return []
    health = config.collection.health
    return [ApiServiceCollector(config, health.interval_seconds, health.timeout_seconds)]
