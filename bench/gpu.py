"""The GPU collector's cycle on a real GPU beside its floor: the bare NVML calls it makes.

    python bench/gpu.py [--cycles 200]

Runs only where NVML loads (a machine with an NVIDIA GPU and driver). Prints, in one run:
the per-cycle time of `GpuCollector.read()` (every device field, health, processes, MIG,
XID drain) and of the floor, the four device reads every GPU exporter makes (memory,
utilisation, temperature, power) called directly on the same handles, and their ratio;
then the series a cycle writes. Where NVML is missing it says so and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pynvml  # noqa: E402

from exporter.collectors import gpu as gpu_mod  # noqa: E402
from exporter.config import Config  # noqa: E402


def floor_cycle(handles: list) -> None:
    for h in handles:
        pynvml.nvmlDeviceGetMemoryInfo(h)
        pynvml.nvmlDeviceGetUtilizationRates(h)
        pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
        pynvml.nvmlDeviceGetPowerUsage(h)


def per_call_times(collector, cycles: int) -> dict[str, float]:
    """Mean ms per cycle spent in each NVML function the collector calls (wrapped in turn)."""
    spent: dict[str, float] = {}
    originals = {n: getattr(pynvml, n) for n in dir(pynvml) if n.startswith("nvml")}

    def wrap(name, fn):
        def timed_call(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

        return timed_call

    for name, fn in originals.items():
        if callable(fn):
            setattr(pynvml, name, wrap(name, fn))
    try:
        for _ in range(cycles):
            collector.read()
    finally:
        for name, fn in originals.items():
            setattr(pynvml, name, fn)
    return {n: v * 1e3 / cycles for n, v in sorted(spent.items(), key=lambda kv: -kv[1])}


def timed(fn, cycles: int) -> list[float]:
    out = []
    for _ in range(cycles):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    error = gpu_mod.try_init()
    if error is not None:
        print(f"bench/gpu.py: no NVML here ({error}); nothing to measure")
        return 0
    count = pynvml.nvmlDeviceGetCount()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    names = [pynvml.nvmlDeviceGetName(h) for h in handles]
    print(f"driver {pynvml.nvmlSystemGetDriverVersion()}, {count} GPU(s): {names}")
    config = Config.model_validate(
        {"gpu": "on", "gpu_attribution": {"enabled": False}, "kubernetes": {"enabled": "off"}}
    )
    (collector,) = gpu_mod.build(config)
    samples = collector.read()  # warm: handles, field support, XID registration
    floor_cycle(handles)
    ours = timed(collector.read, args.cycles)
    floor = timed(lambda: floor_cycle(handles), args.cycles)
    p50o, p50f = statistics.median(ours) * 1e3, statistics.median(floor) * 1e3
    p99o = sorted(ours)[int(0.99 * (len(ours) - 1))] * 1e3
    p99f = sorted(floor)[int(0.99 * (len(floor) - 1))] * 1e3
    print(f"{'cycle':<34}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'GpuCollector.read() (all fields)':<34}{p50o:>10.3f}{p99o:>10.3f}")
    print(f"{'floor: 4 bare NVML reads/GPU':<34}{p50f:>10.3f}{p99f:>10.3f}")
    print(f"ratio (ours / floor, p50): {p50o / p50f:.1f}x; series per cycle: {len(samples)}")
    print("where a cycle goes (ms per cycle, top NVML calls):")
    for name, ms in list(per_call_times(collector, min(args.cycles, 50)).items())[:8]:
        print(f"  {name:<48}{ms:>8.3f}")
    for s in samples:
        print(" ", s.spec.name, dict(s.labels), s.value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
