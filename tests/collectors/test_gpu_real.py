"""The GPU collector and the GPU agent on a real GPU and its real NVML (skipped without one).

No GPU exists where CI runs; these run where one does (a lent GPU machine), with a real CUDA
workload when torch can reach the GPU. Only the kubelet is a stand-in (the upstream proto's
server, tests/support/fake_kubelet.py); NVML, the driver and the exporter process are real.
Every test prints what it read, so a report can quote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from exporter.collectors import gpu as gpu_mod
from exporter.config import Config
from tests.collectors.test_gpu import REAL_NVML_ERROR
from tests.collectors.test_gpu_attribution import pods_of, series
from tests.support.fake_kubelet import FakeKubelet, container, pod
from tests.support.servers import exporter_process, free_port, scrape, wait_for

pytestmark = pytest.mark.skipif(
    REAL_NVML_ERROR is not None, reason=f"no NVIDIA GPU here ({REAL_NVML_ERROR})"
)

GIB = 1024**3
# A CUDA job that holds 4 GiB and keeps the SMs busy until stdin closes (or 60 s pass).
BURN = """
import sys, threading, time, torch
a = torch.randn(8192, 8192, device="cuda")
hold = torch.empty(4 * 1024**3, dtype=torch.uint8, device="cuda")
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
print("busy", flush=True)
end = time.monotonic() + 60
while not done.is_set() and time.monotonic() < end:
    for _ in range(20):
        a = (a @ a).clamp_(-1, 1)
    torch.cuda.synchronize()
"""


def first_uuid() -> str:
    pynvml.nvmlInit()
    try:
        uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(0))
    finally:
        pynvml.nvmlShutdown()
    return uuid.decode() if isinstance(uuid, bytes) else uuid


@contextlib.contextmanager
def cuda_job():
    """The BURN job as a process; yields it once it is busy, or None without torch+CUDA."""
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    except OSError:
        yield None
        return
    try:
        line = proc.stdout.readline().strip()
        yield proc if line == "busy" else None
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def collect_until(col, done) -> list:
    """Cycles of `col` until `done(samples)` holds (the driver's utilisation and process
    samples cover the last ~1 s), at most 10; then closes it."""
    samples: list = []
    for _ in range(10):
        samples = await col.collect()
        if done(samples):
            break
        await asyncio.sleep(0.5)
    await col.close()
    return samples


def agent_config(socket: str, proc_root: str) -> Config:
    return Config.model_validate(
        {
            "gpu": "on",
            "collection": {"interval_seconds": 1, "timeout_seconds": 1},
            "gpu_attribution": {"pod_resources_socket": socket, "proc_root": proc_root},
        }
    )


async def test_agent_labels_the_real_gpu_with_its_pod(tmp_path, monkeypatch):
    """The kubelet says pod ml/trainer-0 holds GPU 0: every device series of it says so."""
    monkeypatch.setenv("NODE_NAME", "gpu-node")
    uuid = first_uuid()
    kubelet = FakeKubelet(tmp_path)
    kubelet.set_pods([pod("ml", "trainer-0", container("main", [uuid]))])
    kubelet.start()
    try:
        (col,) = gpu_mod.build(agent_config(kubelet.socket, str(tmp_path / "proc")))
        with cuda_job() as job:

            def busy(samples: list) -> bool:
                util = {s.labels["uuid"]: s.value for s in samples
                        if s.spec.name == "gpu_utilization_ratio"}  # fmt: skip
                return job is None or util.get(uuid, 0) > 0

            samples = await collect_until(col, busy)
    finally:
        kubelet.stop()
    for s in samples:
        print(s.spec.name, json.dumps(dict(s.labels), sort_keys=True), s.value)
    labels = series(samples, "gpu_utilization_ratio")[("0", uuid)]
    assert labels["pod"] == "trainer-0" and labels["namespace"] == "ml", labels
    assert labels["container"] == "main" and labels["node"] == "gpu-node"
    assert pods_of(samples, "gpu_allocated_devices") == {(uuid, "trainer-0", ""): 1}
    mem = {s.labels["uuid"]: s.value for s in samples if s.spec.name == "gpu_memory_used_bytes"}
    total = {s.labels["uuid"]: s.value for s in samples if s.spec.name == "gpu_memory_total_bytes"}
    assert 0 <= mem[uuid] <= total[uuid]
    if job is not None:  # torch reached the GPU: the job's load and its 4 GiB are visible
        value = next(s.value for s in samples
                     if s.spec.name == "gpu_utilization_ratio" and s.labels["uuid"] == uuid)  # fmt: skip
        assert value > 0
        assert mem[uuid] >= 4 * GIB


async def test_time_sliced_real_gpu_splits_by_process(tmp_path, monkeypatch):
    """Two pods share GPU 0 (time-slicing replicas): the device series belong to no pod, and
    the per-process series carry the job's memory, read from the real driver's accounting
    (which pod a process is in needs the Kubernetes API for pod UIDs: not here)."""
    monkeypatch.setenv("NODE_NAME", "gpu-node")
    uuid = first_uuid()
    kubelet = FakeKubelet(tmp_path)
    kubelet.set_pods(
        [
            pod("serve", "llm-1", container("main", [f"{uuid}::0"])),
            pod("serve", "llm-2", container("main", [f"{uuid}::1"])),
        ]
    )
    kubelet.start()
    try:
        with cuda_job() as job:
            if job is None:
                pytest.skip("torch cannot reach the GPU here: no process to account")
            pynvml.nvmlInit()
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(0)
                pids = [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)]
            finally:
                pynvml.nvmlShutdown()
            print("NVML compute processes:", pids, "job pid:", job.pid)
            if not pids:
                pytest.skip("the driver lists no processes in this container (no host PID view)")
            (col,) = gpu_mod.build(agent_config(kubelet.socket, "/proc"))
            samples = await collect_until(
                col, lambda samples: pods_of(samples, "gpu_process_memory_used_bytes")
            )
    finally:
        kubelet.stop()
    for s in samples:
        if s.spec.name.startswith(("gpu_process", "gpu_allocated")):
            print(s.spec.name, json.dumps(dict(s.labels), sort_keys=True), s.value)
    assert "pod" not in series(samples, "gpu_utilization_ratio")[("0", uuid)]
    assert pods_of(samples, "gpu_allocated_devices") == {
        (uuid, "llm-1", ""): 1,
        (uuid, "llm-2", ""): 1,
    }
    memory = pods_of(samples, "gpu_process_memory_used_bytes")
    assert sum(memory.values()) >= 4 * GIB, memory


def test_agent_process_serves_real_gpu_metrics(tmp_path):
    """`exporter serve` with the GPU agent's kind of config, scraped like Prometheus does."""
    port = free_port()
    kubelet = FakeKubelet(tmp_path)
    kubelet.set_pods([pod("ml", "trainer-0", container("main", [first_uuid()]))])
    kubelet.start()
    config = f"""
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: 1, timeout_seconds: 1}}
metrics_api: {{enabled: false}}
gpu: "on"
gpu_attribution: {{pod_resources_socket: "{kubelet.socket}", proc_root: "/proc"}}
"""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with exporter_process(config) as exporter:
            try:
                text = wait_for(
                    lambda: (t := scrape(url)) and "gpu_utilization_ratio{" in t and t,
                    what="GPU series on /metrics",
                )
            except TimeoutError as exc:
                raise AssertionError(exporter.extra["log"].read_text()[-3000:]) from exc
            status = Path(f"/proc/{exporter.proc.pid}/status").read_text()
            rss = next(line for line in status.splitlines() if line.startswith("VmRSS"))
    finally:
        kubelet.stop()
    lines = [line for line in text.splitlines() if line.startswith("gpu_")]
    print("\n".join(lines))
    print("exporter", rss)
    assert any('pod="trainer-0"' in line for line in lines if line.startswith("gpu_utilization"))
    assert 'exporter_collector_up{collector="gpu"' in text
