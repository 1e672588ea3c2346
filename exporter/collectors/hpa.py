"""HPA status per component class, from autoscaling/v2 HorizontalPodAutoscalers.

An HPA belongs to a class when its scaleTargetRef is the class's workload, whoever created
it. The kubernetes client blocks, so the list call runs in a thread and carries the
collector's timeout itself: a hung API server ends the thread too, not only the await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from exporter import catalog, kube
from exporter.config import ComponentClass, Config, KubernetesAccess
from exporter.runtime import Collector
from exporter.snapshot import Sample

if TYPE_CHECKING:
    from kubernetes import client


def _condition_true(hpa: Any, kind: str) -> float:
    for cond in (hpa.status and hpa.status.conditions) or []:
        if cond.type == kind:
            return 1.0 if cond.status == "True" else 0.0
    return 0.0


def _belongs(hpa: Any, cls: ComponentClass) -> bool:
    ref = hpa.spec.scale_target_ref
    return ref.kind == cls.workload.kind and ref.name == cls.workload.name


def hpa_samples(classes: Iterable[ComponentClass], hpas: Sequence[Any]) -> list[Sample]:
    """Series for every HPA that scales a configured class's workload."""
    out: list[Sample] = []
    for cls in classes:
        for hpa in hpas:
            if not _belongs(hpa, cls):
                continue
            labels = {"component_class": cls.name, "hpa": hpa.metadata.name}
            status = hpa.status
            out += [
                # currentReplicas is omitted from the JSON when it is 0.
                Sample(
                    catalog.HPA_CURRENT_REPLICAS, labels, (status and status.current_replicas) or 0
                ),
                Sample(
                    catalog.HPA_DESIRED_REPLICAS, labels, (status and status.desired_replicas) or 0
                ),
                Sample(catalog.HPA_MIN_REPLICAS, labels, hpa.spec.min_replicas or 1),
                Sample(catalog.HPA_MAX_REPLICAS, labels, hpa.spec.max_replicas),
                Sample(catalog.HPA_ABLE_TO_SCALE, labels, _condition_true(hpa, "AbleToScale")),
                Sample(catalog.HPA_SCALING_ACTIVE, labels, _condition_true(hpa, "ScalingActive")),
            ]
    return out


class HpaCollector(Collector):
    name = "hpa"

    def __init__(
        self,
        namespace: str,
        classes: Sequence[ComponentClass],
        access: KubernetesAccess,
        interval: float,
        timeout: float,
    ) -> None:
        super().__init__(interval, timeout)
        self.target = namespace
        self.classes = list(classes)
        self.access = access
        self._api: client.AutoscalingV2Api | None = None

    def _list(self) -> list[Any]:
        from kubernetes import client  # imported on first use: see exporter.kube

        if self._api is None:
            self._api = client.AutoscalingV2Api(kube.api_client(self.access))
        try:
            result = self._api.list_namespaced_horizontal_pod_autoscaler(
                self.target, _request_timeout=self.timeout
            )
        except client.ApiException as exc:
            raise kube.KubeError(
                f"listing HPAs in {self.target}: HTTP {exc.status} {exc.reason}"
            ) from None
        return result.items or []

    async def collect(self) -> Sequence[Sample]:
        return hpa_samples(self.classes, await asyncio.to_thread(self._list))

    async def close(self) -> None:
        if self._api is not None:
            self._api.api_client.close()
            self._api = None


def build(config: Config) -> list[Collector]:
    """An HPA collector per namespace holding classes, when Kubernetes is reachable."""
    if not config.component_classes or not kube.enabled(config.kubernetes):
        return []
    return [
        HpaCollector(
            namespace,
            [c for c in config.component_classes if config.class_namespace(c) == namespace],
            config.kubernetes,
            config.collection.health.interval_seconds,
            config.collection.health.timeout_seconds,
        )
        for namespace in config.namespaces
        if any(config.class_namespace(c) == namespace for c in config.component_classes)
    ]
