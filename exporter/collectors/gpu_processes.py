"""Per-pod use of a shared GPU: NVML's per-process samples, summed per container.

With time-slicing or MPS every pod on a GPU sees the same device-level utilisation; NVML
still knows each process's SM share (`nvmlDeviceGetProcessUtilization`, percent over the
driver's sample period) and memory (`nvmlDeviceGetComputeRunningProcesses`, bytes). Each
process is mapped to its pod through its cgroup (`Attribution.process_labels`); processes
of one container are summed, so the series count is bounded by containers, not PIDs.
Processes outside any pod are summed into one unlabelled series per GPU.

Two fields, degrading apart: `processes` (running processes and their memory) and
`process_utilization` (NOT_SUPPORTED on MIG devices and older boards); NVML_ERROR_NOT_FOUND
from the utilisation call means "no sample since last time", which reads as 0 per process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pynvml

from exporter import catalog
from exporter.snapshot import LabelKey, Sample


def running_processes(handle: Any) -> dict[int, int]:
    """pid -> bytes of GPU memory (0 where NVML cannot say, e.g. WDDM)."""
    return {
        p.pid: int(p.usedGpuMemory or 0)
        for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    }


def utilization(handle: Any, since_us: int) -> tuple[dict[int, float], int]:
    """(pid -> SM ratio of its newest sample after `since_us`, newest timestamp seen)."""
    try:
        samples = pynvml.nvmlDeviceGetProcessUtilization(handle, since_us)
    except pynvml.NVMLError_NotFound:
        return {}, since_us
    newest: dict[int, tuple[int, float]] = {}
    for s in samples:
        if s.pid not in newest or s.timeStamp > newest[s.pid][0]:
            newest[s.pid] = (s.timeStamp, s.smUtil / 100.0)
    latest = max((t for t, _ in newest.values()), default=since_us)
    return {pid: ratio for pid, (_, ratio) in newest.items()}, max(latest, since_us)


def per_container(
    device: Mapping[str, str],
    memory: dict[int, int] | None,
    sm: dict[int, float] | None,
    labels_of: Callable[[int], dict[str, str]],
) -> list[Sample]:
    """Sum memory and SM ratio per container label set; None: that field is unavailable."""
    pids = set(memory or {}) | set(sm or {})
    mem_sum: dict[LabelKey, float] = {}
    sm_sum: dict[LabelKey, float] = {}
    for pid in sorted(pids):
        key = tuple(sorted({**device, **labels_of(pid)}.items()))
        if memory is not None:
            mem_sum[key] = mem_sum.get(key, 0.0) + memory.get(pid, 0)
        if sm is not None:
            sm_sum[key] = sm_sum.get(key, 0.0) + sm.get(pid, 0.0)
    out = [Sample(catalog.GPU_PROCESS_MEMORY_USED, dict(k), v) for k, v in mem_sum.items()]
    # Samples are whole percent per process; a sum above 1 is sampling noise, not more GPU.
    out += [
        Sample(catalog.GPU_PROCESS_UTILIZATION, dict(k), min(v, 1.0)) for k, v in sm_sum.items()
    ]
    return out
