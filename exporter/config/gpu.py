"""The `gpu_attribution:` section: how GPU series learn which pod uses each GPU."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from exporter.config.base import Strict

ABSOLUTE_PATH = r"^/[^\s]*$"


class GpuAttribution(Strict):
    """How the GPU collector learns which pod uses each GPU (on the GPU agent's node).

    The kubelet's pod-resources socket names the container holding each GPU, MIG device or
    time-sliced replica; the pod's `class_label` (read through the Kubernetes API, which
    needs `kubernetes` access) gives `component_class`; `proc_root/<pid>/cgroup` maps GPU
    processes to pods. A socket that is missing or answers garbage leaves the series
    unlabelled (one log line), it never fails the collector.
    """

    enabled: bool = True
    pod_resources_socket: Annotated[str, Field(pattern=ABSOLUTE_PATH)] = (
        "/var/lib/kubelet/pod-resources/kubelet.sock"
    )
    # The pod label whose value is the pod's component class (Kubernetes' recommended
    # `app.kubernetes.io/component`, which the generated manifests also use).
    class_label: Annotated[str, Field(pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9_.-]+$")] = (
        "app.kubernetes.io/component"
    )
    # Where the host's /proc is (NVML reports host PIDs; the agent mounts it at /host/proc).
    proc_root: Annotated[str, Field(pattern=ABSOLUTE_PATH)] = "/proc"
    # Pod labels are re-read when a pod appears that the cache lacks, and at least this often.
    pod_refresh_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
