"""GPU series carry the pod that holds the GPU: a pod-resources server built from the
upstream kubelet proto, the fake Kubernetes API for pod labels, the NVML double."""

from __future__ import annotations

import logging

import pytest

from exporter.collectors import gpu as gpu_mod
from exporter.config import Config
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.fake_kube import FakeKube
from tests.support.fake_kubelet import FakeKubelet, container, garbage_socket, pod
from tests.support.nvml_fake import FakeGpu, FakeMig, FakeNvml, FakeProcess

GIB = 1024**3
NODE = "gpu-node-1"
CLASS = "app.kubernetes.io/component"
TRAINER = ("ml", "trainer-0")
CID = {name: (str(i) * 64)[:64] for i, name in enumerate(["trainer", "llm1", "llm2", "small"], 1)}
UID = {}  # pod name -> uid, filled by the fixture (the fake API derives it)
LOGGER = "exporter.collectors.gpu"


@pytest.fixture
def kube():
    with FakeKube() as k:
        for (ns, name), cls, cid in [
            (TRAINER, "gpu", CID["trainer"]),
            (("serve", "llm-1"), "gpu", CID["llm1"]),
            (("serve", "llm-2"), "batch", CID["llm2"]),
            (("serve", "small"), "gpu", CID["small"]),
        ]:
            obj = k.set_pod(ns, name, NODE, {CLASS: cls}, {"main": f"containerd://{cid}"})
            UID[name] = obj["metadata"]["uid"]
        k.set_pod("ml", "elsewhere", "other-node", {CLASS: "cpu"})
        yield k


@pytest.fixture
def kubelet(tmp_path):
    k = FakeKubelet(tmp_path)
    yield k
    k.stop()


@pytest.fixture
def nvml(monkeypatch):
    monkeypatch.setenv("NODE_NAME", NODE)
    return FakeNvml(
        [
            FakeGpu("GPU-0a", utilization_percent=90, memory_used=30 * GIB),
            FakeGpu("GPU-1b", utilization_percent=40, memory_used=12 * GIB),
            FakeGpu("GPU-2c", mig_mode=(1, 1),
                    mig_slots=[FakeMig("MIG-m0", 10 * GIB, 3 * GIB), None, FakeMig("MIG-m2")]),
        ]
    ).install(monkeypatch)  # fmt: skip


def write_cgroup(proc, pid: int, pod_uid: str | None, cid: str = "") -> None:
    """/proc/<pid>/cgroup as cgroup v2 with the systemd driver and containerd writes it."""
    d = proc / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    if pod_uid is None:
        (d / "cgroup").write_text("0::/system.slice/nvidia-persistenced.service\n")
        return
    qos = "kubepods-burstable"
    (d / "cgroup").write_text(
        f"0::/kubepods.slice/{qos}.slice/{qos}-pod{pod_uid.replace('-', '_')}.slice/"
        f"cri-containerd-{cid}.scope\n"
    )


def make_collector(tmp_path, kube, kubelet, socket=None):
    config = Config.model_validate(
        {
            "gpu": "on",
            "collection": {"interval_seconds": 5, "timeout_seconds": 5},
            "kubernetes": {"enabled": "on", "kubeconfig": kube.kubeconfig()},
            "gpu_attribution": {
                "pod_resources_socket": socket or kubelet.socket,
                "proc_root": str(tmp_path / "proc"),
            },
        }
    )
    (col,) = gpu_mod.build(config)
    return col


def series(samples, name: str) -> dict[tuple[str, str], dict]:
    """(gpu, uuid) -> labels of `name`'s series, empty ones left out as in the exposition."""
    return {
        (s.labels["gpu"], s.labels["uuid"]): {k: v for k, v in s.labels.items() if v}
        for s in samples
        if s.spec.name == name
    }


def pods_of(samples, name: str) -> dict[tuple, float]:
    return {
        (s.labels["uuid"], s.labels.get("pod", ""), s.labels.get("component_class", "")): s.value
        for s in samples
        if s.spec.name == name
    }


async def test_series_carry_the_holding_pod_and_its_class(tmp_path, kube, kubelet, nvml):
    kubelet.set_pods(
        [
            pod(*TRAINER, container("main", ["GPU-0a"]), container("sidecar")),
            pod("serve", "small", container("main", ["MIG-m0"], "nvidia.com/mig-1g.10gb")),
        ]
    )
    kubelet.start()
    col = make_collector(tmp_path, kube, kubelet)
    samples = await col.collect()
    util = series(samples, "gpu_utilization_ratio")
    assert util[("0", "GPU-0a")] == {
        "gpu": "0", "uuid": "GPU-0a", "node": NODE,
        "namespace": "ml", "pod": "trainer-0", "container": "main", "component_class": "gpu",
    }  # fmt: skip
    assert util[("1", "GPU-1b")] == {"gpu": "1", "uuid": "GPU-1b", "node": NODE}  # free
    # A MIG device is labelled by its own UUID; its parent GPU, split among pods, is not.
    mem = series(samples, "gpu_memory_used_bytes")
    assert mem[("2", "MIG-m0")]["pod"] == "small"
    assert mem[("2", "MIG-m0")]["gpu_instance"] == "0"
    assert "pod" not in mem[("2", "MIG-m2")] and "pod" not in mem[("2", "GPU-2c")]
    assert [s.value for s in samples if s.labels["uuid"] == "MIG-m0" and
            s.spec.name == "gpu_memory_used_bytes"] == [3 * GIB]  # fmt: skip
    assert pods_of(samples, "gpu_allocated_devices") == {
        ("GPU-0a", "trainer-0", "gpu"): 1,
        ("MIG-m0", "small", "gpu"): 1,
    }
    await col.close()


async def test_time_sliced_gpu_is_shared_per_process_through_cgroups(tmp_path, kube, kubelet, nvml):
    proc = tmp_path / "proc"
    write_cgroup(proc, 4101, UID["llm-1"], CID["llm1"])
    write_cgroup(proc, 4102, UID["llm-1"], CID["llm1"])
    write_cgroup(proc, 4201, UID["llm-2"], CID["llm2"])
    write_cgroup(proc, 77, None)  # a host process
    nvml.gpus[1].processes = [
        FakeProcess(4101, used_memory=4 * GIB, sm_util=20),
        FakeProcess(4102, used_memory=GIB, sm_util=5),
        FakeProcess(4201, used_memory=6 * GIB, sm_util=15),
        FakeProcess(77, used_memory=GIB // 2, sm_util=None),  # no sample: counts as idle
    ]
    # The device plugin's time-slicing replicas: llm-1 got two of GPU-1b's, llm-2 one.
    kubelet.set_pods(
        [
            pod("serve", "llm-1", container("main", ["GPU-1b::0", "GPU-1b::2"])),
            pod("serve", "llm-2", container("main", ["GPU-1b::1"])),
        ]
    )
    kubelet.start()
    col = make_collector(tmp_path, kube, kubelet)
    samples = await col.collect()
    # Shared: the device-level value belongs to no single pod.
    assert "pod" not in series(samples, "gpu_utilization_ratio")[("1", "GPU-1b")]
    assert pods_of(samples, "gpu_allocated_devices") == {
        ("GPU-1b", "llm-1", "gpu"): 2,
        ("GPU-1b", "llm-2", "batch"): 1,
    }
    assert pods_of(samples, "gpu_process_utilization_ratio") == pytest.approx(
        {
            ("GPU-1b", "llm-1", "gpu"): 0.25,
            ("GPU-1b", "llm-2", "batch"): 0.15,
            ("GPU-1b", "", ""): 0.0,
        }
    )
    assert pods_of(samples, "gpu_process_memory_used_bytes") == {
        ("GPU-1b", "llm-1", "gpu"): 5 * GIB,
        ("GPU-1b", "llm-2", "batch"): 6 * GIB,
        ("GPU-1b", "", ""): GIB // 2,
    }
    by_pod = {s.labels.get("pod"): dict(s.labels) for s in samples
              if s.spec.name == "gpu_process_memory_used_bytes"}  # fmt: skip
    assert by_pod["llm-1"]["container"] == "main" and by_pod["llm-1"]["namespace"] == "serve"
    await col.close()


async def test_pod_gone_drops_its_labels_within_one_interval(tmp_path, kube, kubelet, nvml):
    kubelet.set_pods([pod(*TRAINER, container("main", ["GPU-0a"]))])
    kubelet.start()
    col = make_collector(tmp_path, kube, kubelet)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [col])
    assert await runtime.run_once(col)
    assert snapshot.value("gpu_utilization_ratio", util_labels := {
        "gpu": "0", "uuid": "GPU-0a", "node": NODE, "namespace": "ml", "pod": "trainer-0",
        "container": "main", "component_class": "gpu"}) == pytest.approx(0.9)  # fmt: skip
    lists = [r for r in kube.requests if r[1].startswith("/api/v1/pods")]
    assert len(lists) == 1 and "spec.nodeName" in lists[0][1]

    # Same pods next cycle: the cached pod list serves, no second list call.
    assert await runtime.run_once(col)
    assert len([r for r in kube.requests if r[1].startswith("/api/v1/pods")]) == 1

    kubelet.set_pods([])  # the pod was deleted: the kubelet released its GPU
    kube.delete_pod(*TRAINER)
    assert await runtime.run_once(col)  # the very next cycle
    assert snapshot.value("gpu_utilization_ratio", util_labels) is None
    assert snapshot.value(
        "gpu_utilization_ratio", {"gpu": "0", "uuid": "GPU-0a", "node": NODE}
    ) == pytest.approx(0.9)
    assert not [s for s in snapshot.series("gpu_allocated_devices")]

    # A new pod takes the GPU: its labels appear, its class read with a fresh list call.
    kube.set_pod("ml", "trainer-1", NODE, {CLASS: "gpu"})
    kubelet.set_pods([pod("ml", "trainer-1", container("main", ["GPU-0a"]))])
    col.attribution.pods.min_relist = 0
    assert await runtime.run_once(col)
    labels = {dict(s.labels).get("pod") for s in snapshot.series("gpu_utilization_ratio")}
    assert "trainer-1" in labels and "trainer-0" not in labels
    assert len([r for r in kube.requests if r[1].startswith("/api/v1/pods")]) == 2
    await runtime.stop()


@pytest.mark.parametrize("broken", ["missing", "garbage"])
async def test_no_kubelet_means_unlabelled_series_and_one_log_line(
    tmp_path, kube, kubelet, nvml, caplog, broken
):
    path = str(tmp_path / "broken.sock")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        col = make_collector(tmp_path, kube, kubelet, socket=path)
        snapshot = Snapshot()
        runtime = Runtime(snapshot, [col])
        if broken == "garbage":
            with garbage_socket(path):
                for _ in range(3):
                    assert await runtime.run_once(col)  # the collector itself stays up
        else:
            for _ in range(3):
                assert await runtime.run_once(col)
    lines = [r for r in caplog.records if "without pod labels" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "UNAVAILABLE" in lines[0].getMessage()
    util = snapshot.series("gpu_utilization_ratio")
    assert len(util) == 3 and all("pod" not in dict(s.labels) for s in util)
    assert snapshot.value("exporter_collector_up", {"collector": "gpu", "target": NODE}) == 1
    await runtime.stop()


async def test_kubelet_coming_back_restores_labels_with_one_line(
    tmp_path, kube, kubelet, nvml, caplog
):
    kubelet.set_pods([pod(*TRAINER, container("main", ["GPU-0a"]))])
    col = make_collector(tmp_path, kube, kubelet)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert "pod" not in series(await col.collect(), "gpu_utilization_ratio")[("0", "GPU-0a")]
        kubelet.start()
        labels = series(await col.collect(), "gpu_utilization_ratio")[("0", "GPU-0a")]
    assert labels["pod"] == "trainer-0"
    assert sum("pod labels are back" in r.getMessage() for r in caplog.records) == 1
    await col.close()


async def test_kubernetes_api_down_keeps_pod_labels_without_class(
    tmp_path, kube, kubelet, nvml, caplog
):
    kubelet.set_pods([pod(*TRAINER, container("main", ["GPU-0a"]))])
    kubelet.start()
    col = make_collector(tmp_path, kube, kubelet)
    kube.token = "rotated"  # the agent's token is no longer accepted: every call is 401
    with caplog.at_level(logging.INFO, logger=LOGGER):
        col.attribution.pods.min_relist = 0
        for _ in range(2):
            labels = series(await col.collect(), "gpu_utilization_ratio")[("0", "GPU-0a")]
    assert labels["pod"] == "trainer-0" and labels["container"] == "main"
    assert "component_class" not in labels
    lines = [r for r in caplog.records if "cannot list this node's pods" in r.getMessage()]
    assert len(lines) == 1 and lines[0].getMessage().endswith("HTTP 401 Unauthorized")
    await col.close()


async def test_attribution_off_touches_neither_kubelet_nor_kubernetes(tmp_path, kube, nvml):
    config = Config.model_validate(
        {"gpu": "on", "kubernetes": {"enabled": "on", "kubeconfig": kube.kubeconfig()},
         "gpu_attribution": {"enabled": False, "pod_resources_socket": str(tmp_path / "x.sock")}}
    )  # fmt: skip
    (col,) = gpu_mod.build(config)
    samples = await col.collect()
    assert col.attribution is None and kube.requests == []
    assert all("pod" not in s.labels for s in samples)
    assert not [s for s in samples if s.spec.name == "gpu_allocated_devices"]
    await col.close()
