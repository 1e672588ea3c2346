"""The kubelet pod-resources client: its proto matches upstream's, its stubs are current,
and it reads a server built from the upstream proto (whole GPUs, MIG devices, replicas)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from exporter.kubelet.podresources import (
    ContainerRef,
    PodResourcesClient,
    PodResourcesError,
    device_uuid,
)
from tests.support.fake_kubelet import REFERENCE_PROTO, FakeKubelet, container, garbage_socket, pod
from tests.support.servers import REPO

OWN_PROTO = REPO / "exporter" / "kubelet" / "podresources.proto"


def _descriptor_set(proto: Path, tmp: Path) -> descriptor_pb2.FileDescriptorProto:
    out = tmp / f"{proto.stem}.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto.parent}",
         f"--descriptor_set_out={out}", str(proto)],
        check=True,
    )  # fmt: skip
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return files.file[0]


def _shape(fd: descriptor_pb2.FileDescriptorProto) -> dict:
    """What the wire depends on: package, messages' fields (number, type, label), services."""
    messages = {
        m.name: sorted(
            (f.number, f.name, f.type, f.label, f.type_name, f.proto3_optional) for f in m.field
        )
        for m in fd.message_type
    }
    services = {
        s.name: sorted((m.name, m.input_type, m.output_type) for m in s.method) for s in fd.service
    }
    return {"package": fd.package, "messages": messages, "services": services}


def test_own_proto_is_wire_identical_to_upstream(tmp_path):
    ours = _shape(_descriptor_set(OWN_PROTO, tmp_path))
    upstream = _shape(_descriptor_set(REFERENCE_PROTO, tmp_path))
    assert ours["package"] == "v1"
    assert "PodResourcesLister" in ours["services"]
    assert ours == upstream


def test_committed_stubs_are_what_protoc_generates(tmp_path):
    """Stubs are committed (the agent's image needs no protoc, its root filesystem is read-only);
    `make protos` regenerates them. This fails when the proto or grpcio-tools changed."""
    (tmp_path / "exporter" / "kubelet").mkdir(parents=True)
    shutil.copyfile(OWN_PROTO, tmp_path / "exporter" / "kubelet" / "podresources.proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", "exporter/kubelet/podresources.proto"],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    for name in ("podresources_pb2.py", "podresources_pb2_grpc.py"):
        fresh = (tmp_path / "exporter" / "kubelet" / name).read_text()
        committed = (OWN_PROTO.parent / name).read_text()
        assert committed == fresh, f"{name} is stale: run `make protos`"


def test_device_ids_fold_replicas_onto_their_device():
    assert device_uuid("GPU-8f6d1b2e-0000-1111-2222-333344445555::3") == (
        "GPU-8f6d1b2e-0000-1111-2222-333344445555"
    )
    assert device_uuid("MIG-5c0a2b9e-aaaa-bbbb-cccc-ddddeeeeffff") == (
        "MIG-5c0a2b9e-aaaa-bbbb-cccc-ddddeeeeffff"
    )


@pytest.fixture
def kubelet(tmp_path):
    k = FakeKubelet(tmp_path).start()
    yield k
    k.stop()


def test_lists_gpu_holders_as_the_kubelet_reports_them(kubelet):
    kubelet.set_pods(
        [
            # whole GPUs plus a container without devices and a non-GPU device resource
            pod("ml", "trainer-0", container("main", ["GPU-a", "GPU-b"]), container("log-shipper")),
            pod("ml", "nic-user", container("c", ["0000:3b:00.1"], "example.com/sriov")),
            # time-sliced: two replicas of GPU-c to one container, one to another pod
            pod("serve", "llm-1", container("model", ["GPU-c::0", "GPU-c::3"])),
            pod("serve", "llm-2", container("model", ["GPU-c::1"])),
            # MIG with the mixed strategy: one resource per profile, MIG UUIDs
            pod("serve", "small", container("model", ["MIG-m1"], "nvidia.com/mig-1g.10gb")),
        ]
    )
    client = PodResourcesClient(kubelet.socket, timeout=5)
    try:
        got = client.allocations()
    finally:
        client.close()
    assert got == {
        "GPU-a": {ContainerRef("ml", "trainer-0", "main"): 1},
        "GPU-b": {ContainerRef("ml", "trainer-0", "main"): 1},
        "GPU-c": {ContainerRef("serve", "llm-1", "model"): 2, ContainerRef("serve", "llm-2", "model"): 1},
        "MIG-m1": {ContainerRef("serve", "small", "model"): 1},
    }  # fmt: skip


def test_missing_socket_garbage_and_silence_raise_with_the_reason(tmp_path):
    missing = PodResourcesClient(str(tmp_path / "nope.sock"), timeout=2)
    with pytest.raises(PodResourcesError, match="UNAVAILABLE.*No such file"):
        missing.allocations()
    missing.close()

    with garbage_socket(str(tmp_path / "garbage.sock")) as path:
        client = PodResourcesClient(path, timeout=2)
        with pytest.raises(PodResourcesError, match="UNAVAILABLE"):
            client.allocations()
        client.close()

    # A socket nobody answers on (a hung kubelet): the call's deadline ends it.
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(tmp_path / "silent.sock"))
    silent.listen(1)
    client = PodResourcesClient(str(tmp_path / "silent.sock"), timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PodResourcesError, match="DEADLINE_EXCEEDED"):
        client.allocations()
    assert time.monotonic() - started < 5
    client.close()
    silent.close()
