"""Pod labels for GPU series: the kubelet says who holds a device, Kubernetes says the class.

Per collection cycle (on the GPU collector's worker thread, as everything here blocks):
`Attribution.refresh()` asks the kubelet's pod-resources API which container holds each GPU
UUID, MIG UUID or time-sliced replica, so a pod that went away loses its labels on the next
cycle. The pods on this node (labels, UIDs, container IDs) come from one Kubernetes list call,
cached and re-listed when the kubelet or a GPU process names a pod the cache lacks (at most
once per `min_relist` seconds) or after `refresh_seconds`.

Failure semantics: a kubelet that cannot be asked gives an empty table (unlabelled series,
one warning per outage); a Kubernetes API that cannot be asked keeps the last pod list (or
none: no `component_class`), also one warning per outage. Neither fails the collector.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exporter.collectors.gpu_cgroup import CgroupUnreadable, process_cgroup
from exporter.kubelet.podresources import (
    Allocations,
    ContainerRef,
    PodResourcesClient,
    PodResourcesError,
)

if TYPE_CHECKING:
    from exporter.config import Config

log = logging.getLogger("exporter.collectors.gpu")

POD_LABELS = ("namespace", "pod", "container", "component_class")


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    containers: dict[str, str] = field(default_factory=dict)  # runtime container ID -> name


def _one_line(exc: Exception) -> str:
    """An API error without the response dump the kubernetes client puts in str(exc)."""
    status = getattr(exc, "status", None)
    if status is not None:
        return f"HTTP {status} {getattr(exc, 'reason', '')}".strip()
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _container_id(raw: str | None) -> str:
    """`containerd://<id>` -> `<id>` (the form the cgroup path carries)."""
    return (raw or "").rsplit("://", 1)[-1]


class PodDirectory:
    """The pods on one node, from `list_pods(node)` (a blocking Kubernetes list call)."""

    def __init__(
        self,
        list_pods: Callable[[], list[Any]],
        refresh_seconds: float,
        min_relist: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._list_pods = list_pods
        self.refresh_seconds = refresh_seconds
        self.min_relist = min_relist
        self._clock = clock
        self._by_name: dict[tuple[str, str], PodInfo] = {}
        self._by_uid: dict[str, PodInfo] = {}
        self._listed_at: float | None = None
        self._failing: str | None = None

    def _relist(self) -> None:
        self._listed_at = self._clock()
        try:
            pods = self._list_pods()
        except Exception as exc:  # ApiException, urllib3 errors: keep the old list
            error = _one_line(exc)
            if self._failing is None:
                log.warning("gpu: cannot list this node's pods (pod classes stale): %s", error)
            self._failing = error
            return
        if self._failing is not None:
            log.info("gpu: listing this node's pods works again")
            self._failing = None
        by_name, by_uid = {}, {}
        for p in pods:
            meta = p.metadata
            containers = {
                _container_id(s.container_id): s.name
                for s in (p.status and p.status.container_statuses) or []
                if s.container_id
            }
            info = PodInfo(meta.namespace, meta.name, meta.uid, dict(meta.labels or {}), containers)
            by_name[(info.namespace, info.name)] = info
            by_uid[info.uid] = info
        self._by_name, self._by_uid = by_name, by_uid

    def ensure(self, names: set[tuple[str, str]] = frozenset(), uids: set[str] = frozenset()):
        """Re-list when asked about pods the cache lacks, or when the cache is old."""
        now = self._clock()
        if self._listed_at is None or now - self._listed_at >= self.refresh_seconds:
            self._relist()
            return
        missing = any(n not in self._by_name for n in names) or any(
            u not in self._by_uid for u in uids
        )
        if missing and now - self._listed_at >= self.min_relist:
            self._relist()

    def by_name(self, namespace: str, name: str) -> PodInfo | None:
        return self._by_name.get((namespace, name))

    def by_uid(self, uid: str) -> PodInfo | None:
        return self._by_uid.get(uid)


class Attribution:
    """GPU UUID -> pod labels, and process -> pod labels, for one collection cycle."""

    def __init__(
        self,
        kubelet: PodResourcesClient,
        pods: PodDirectory | None,
        class_label: str,
        proc_root: str = "/proc",
    ) -> None:
        self.kubelet = kubelet
        self.pods = pods
        self.class_label = class_label
        self.proc_root = proc_root
        self.allocations: Allocations = {}
        self._failing: str | None = None

    def refresh(self) -> None:
        """Ask the kubelet again; on failure every series goes unlabelled this cycle."""
        try:
            self.allocations = self.kubelet.allocations()
        except PodResourcesError as exc:
            self.allocations = {}
            if self._failing is None:
                log.warning("gpu: GPU series go without pod labels: %s", exc)
            self._failing = str(exc)
            return
        if self._failing is not None:
            log.info("gpu: kubelet pod-resources answers again; pod labels are back")
            self._failing = None
        if self.pods is not None:
            names = {(r.namespace, r.pod) for h in self.allocations.values() for r in h}
            self.pods.ensure(names=names)

    def holders(self, uuid: str) -> dict[ContainerRef, int]:
        return self.allocations.get(uuid, {})

    def _class(self, info: PodInfo | None) -> str:
        return (info.labels.get(self.class_label, "") if info else "") or ""

    def container_labels(self, ref: ContainerRef) -> dict[str, str]:
        info = self.pods.by_name(ref.namespace, ref.pod) if self.pods else None
        return {
            "namespace": ref.namespace,
            "pod": ref.pod,
            "container": ref.container,
            "component_class": self._class(info),
        }

    def device_labels(self, uuid: str) -> dict[str, str]:
        """The holder's labels when one container holds the device (all of its replicas);
        none when it is free or shared (per-pod use of a shared GPU is in the process series)."""
        holders = self.holders(uuid)
        if len(holders) != 1:
            return {}
        return self.container_labels(next(iter(holders)))

    def process_labels(self, pid: int, uuid: str) -> dict[str, str]:
        """The pod of a GPU process, from its cgroup; unreadable cgroup (no host /proc):
        the device's single holder, if it has one."""
        try:
            cgroup = process_cgroup(pid, self.proc_root)
        except CgroupUnreadable:
            return self.device_labels(uuid)
        if cgroup.pod_uid is None:
            return {}  # a host process (nvidia-smi, a non-Kubernetes job)
        info = None
        if self.pods is not None:
            self.pods.ensure(uids={cgroup.pod_uid})
            info = self.pods.by_uid(cgroup.pod_uid)
        if info is None:
            # Kubernetes unknown or silent: a single holder of this device is still the pod.
            return self.device_labels(uuid)
        container = info.containers.get(cgroup.container_id or "", "")
        return {
            "namespace": info.namespace,
            "pod": info.name,
            "container": container,
            "component_class": self._class(info),
        }

    def close(self) -> None:
        self.kubelet.close()


def node_pod_lister(api_client: Any, node: str, timeout: float) -> Callable[[], list[Any]]:
    """A `list_pods` for PodDirectory: the pods scheduled on `node`, all namespaces."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)

    def list_pods() -> list[Any]:
        return core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}", _request_timeout=timeout
        ).items

    return list_pods


def build_attribution(
    config: Config, node: str, interval: float, timeout: float
) -> Attribution | None:
    """The attribution `gpu_attribution` asks for; the Kubernetes part only where the
    config allows Kubernetes access and the node is known (NODE_NAME)."""
    settings = config.gpu_attribution
    if not settings.enabled:
        return None
    from exporter import kube

    pods = None
    if not kube.enabled(config.kubernetes):
        log.info("gpu: Kubernetes access is off: GPU series get no component_class")
    elif not node:
        log.info("gpu: NODE_NAME is not set: GPU series get no component_class")
    else:
        try:
            api = kube.api_client(config.kubernetes)
        except kube.KubeError as exc:
            log.warning("gpu: GPU series get no component_class: %s", exc)
        else:
            lister = node_pod_lister(api, node, timeout)
            pods = PodDirectory(lister, settings.pod_refresh_seconds, min_relist=interval)
    kubelet = PodResourcesClient(settings.pod_resources_socket, timeout=timeout)
    return Attribution(kubelet, pods, settings.class_label, settings.proc_root)
