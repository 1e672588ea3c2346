"""Which pod and container hold each GPU, from the kubelet's pod-resources API.

The kubelet serves `v1.PodResourcesLister` over a unix socket
(`/var/lib/kubelet/pod-resources/kubelet.sock`). `List` names, per container, the device IDs
the device plugin handed out. The NVIDIA device plugin reports `nvidia.com/gpu` devices by
GPU UUID (`GPU-...`), MIG devices by MIG UUID (`MIG-...`, also as `nvidia.com/mig-<profile>`
resources with the mixed strategy), and time-sliced or MPS-shared replicas as
`<uuid>::<replica>`; replicas are folded onto their device here.

Failure: `PodResourcesClient.allocations` raises `PodResourcesError` (socket missing, not a
gRPC server, a timeout, an answer that does not decode). The caller labels nothing then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # grpc (~9 MB resident) loads with the first client, not with the module
    import grpc

    from exporter.kubelet import podresources_pb2, podresources_pb2_grpc

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
REPLICA_SEPARATOR = "::"


class PodResourcesError(Exception):
    """The kubelet could not be asked, or answered something unusable."""


@dataclass(frozen=True, order=True)
class ContainerRef:
    namespace: str
    pod: str
    container: str


def device_uuid(device_id: str) -> str:
    """The GPU or MIG UUID a device-plugin device ID stands for (`GPU-x::3` -> `GPU-x`)."""
    return device_id.split(REPLICA_SEPARATOR, 1)[0]


def is_gpu_resource(name: str) -> bool:
    return name == GPU_RESOURCE or name.startswith(MIG_RESOURCE_PREFIX)


# uuid -> container -> how many device IDs (whole device, or replicas of it) it holds
Allocations = dict[str, dict[ContainerRef, int]]


def gpu_allocations(pods: Iterable[podresources_pb2.PodResources]) -> Allocations:
    """Fold a `List` answer into GPU/MIG UUID -> holders (other resources are ignored)."""
    out: Allocations = {}
    for pod in pods:
        for container in pod.containers:
            ref = ContainerRef(pod.namespace, pod.name, container.name)
            for devices in container.devices:
                if not is_gpu_resource(devices.resource_name):
                    continue
                for device_id in devices.device_ids:
                    holders = out.setdefault(device_uuid(device_id), {})
                    holders[ref] = holders.get(ref, 0) + 1
    return out


class PodResourcesClient:
    """A gRPC channel to the kubelet's socket, reused across calls (it reconnects itself)."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = 2.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._channel: grpc.Channel | None = None
        self._stub: podresources_pb2_grpc.PodResourcesListerStub | None = None

    def _lister(self) -> podresources_pb2_grpc.PodResourcesListerStub:
        if self._stub is None:
            import grpc

            from exporter.kubelet import podresources_pb2_grpc

            self._channel = grpc.insecure_channel(f"unix://{self.socket_path}")
            self._stub = podresources_pb2_grpc.PodResourcesListerStub(self._channel)
        return self._stub

    def allocations(self) -> Allocations:
        """One blocking `List` call; raises PodResourcesError with the reason."""
        import grpc

        from exporter.kubelet import podresources_pb2

        try:
            answer = self._lister().List(
                podresources_pb2.ListPodResourcesRequest(), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            # A fresh channel next time: a failed one backs off reconnecting for up to
            # two minutes, and a restarted kubelet should be asked on the very next cycle.
            self.close()
            code = exc.code() if isinstance(exc, grpc.Call) else None
            detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            name = code.name if code is not None else "ERROR"
            raise PodResourcesError(
                f"kubelet pod-resources List on {self.socket_path} failed: {name}: {detail}"
            ) from None
        return gpu_allocations(answer.pod_resources)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._stub = None
