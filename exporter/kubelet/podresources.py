"""Which pod and container hold each GPU, from the kubelet's pod-resources API.

The kubelet serves `v1.PodResourcesLister` over a unix socket
(`/var/lib/kubelet/pod-resources/kubelet.sock`). `List` names, per container, the device IDs
the device plugin handed out. The NVIDIA device plugin reports `nvidia.com/gpu` devices by
GPU UUID (`GPU-...`), MIG devices by MIG UUID (`MIG-...`, also as `nvidia.com/mig-<profile>`
resources with the mixed strategy), and time-sliced or MPS-shared replicas as
`<uuid>::<replica>`; replicas are folded onto their device here.

The call goes over exporter.kubelet.h2unary (HTTP/2 and gRPC framing in this package), not
grpcio: a GPU agent without the KEDA scaler never loads grpc (~17 MB resident, a third of it).

Failure: `PodResourcesClient.allocations` raises `PodResourcesError` (socket missing, not a
gRPC server, a timeout, an answer that does not decode). The caller labels nothing then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.kubelet.h2unary import GrpcError, unary_call
from exporter.kubelet.podresources_wire import PodResources, WireError, list_response

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
REPLICA_SEPARATOR = "::"
LIST_METHOD = "/v1.PodResourcesLister/List"
MAX_ANSWER_BYTES = 16 << 20  # grpcio's default cap is 4 MiB; a big node's List stays far below


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


def gpu_allocations(pods: Iterable[PodResources]) -> Allocations:
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
    """The kubelet's socket, one connection per call (a restarted kubelet is asked on the
    very next cycle; nothing stays open between the agent's minute-apart calls)."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = 2.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def allocations(self) -> Allocations:
        """One blocking `List` call; raises PodResourcesError with the reason."""
        try:
            answer = unary_call(
                self.socket_path, LIST_METHOD, b"", self.timeout, max_bytes=MAX_ANSWER_BYTES
            )
            pods = list_response(answer)
        except GrpcError as exc:
            raise PodResourcesError(
                f"kubelet pod-resources List on {self.socket_path} failed: {exc.code}: {exc.detail}"
            ) from None
        except WireError as exc:
            raise PodResourcesError(
                f"kubelet pod-resources List on {self.socket_path}: the answer does not decode: {exc}"
            ) from None
        return gpu_allocations(pods)

    def close(self) -> None:
        """Nothing to close (one connection per call); kept for the callers' shutdown path."""
