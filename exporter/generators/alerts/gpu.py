"""Alerts on GPU health: XID errors, uncorrectable ECC errors, thermal and power throttling.

GPU health series carry only the device labels (`gpu`, `uuid`, `node`), so a counter keeps
its identity while pods come and go on the GPU; each node's series come from its one GPU
agent, and `max by` only drops the scrape labels.
"""

from __future__ import annotations

from exporter import catalog
from exporter.catalog import MetricSpec
from exporter.config import Config
from exporter.generators.alerts.rule import Alert
from exporter.generators.promql import agg, by, max_rate, sel

DEVICE = catalog.GPU_DEVICE_LABELS
WHERE = "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) on node {{ $labels.node }}"
THERMAL = '=~"sw_thermal_slowdown|hw_thermal_slowdown"'
POWER = '=~"hw_power_brake_slowdown|hw_slowdown"'  # sw_power_cap is normal at full load
WINDOW = "10m"
UNCORRECTED = {"type": "uncorrected", "scope": "volatile"}


def increased_or_born(spec: MetricSpec, group: tuple[str, ...], window: str) -> str:
    """The counter grew within `window`, or its series appeared within it: increase() needs
    two samples, and a counter the agent creates at its first event (an XID code's first
    occurrence, at 1) has one."""
    now = agg("max", spec, group)
    before = f"max {by(spec, *group)} ({sel(spec)} offset {window})"
    return f"{max_rate(spec, group, window, 'increase')} > 0\nor\n({now} unless {before})"


def gpu_alerts(config: Config) -> list[Alert]:
    return [
        Alert(
            "GpuXidError",
            increased_or_born(catalog.GPU_XID_ERRORS, (*DEVICE, "xid"), WINDOW),
            "warning",
            "A GPU reported an XID error.",
            f"{WHERE} reported XID {{{{ $labels.xid }}}} in the last {WINDOW}.",
            dashboard="gpu",
        ),
        Alert(
            "GpuEccUncorrectable",
            # ECC counters exist from the agent's first cycle (at 0): growth is enough.
            f"{max_rate(catalog.GPU_ECC_ERRORS, DEVICE, WINDOW, 'increase', **UNCORRECTED)} > 0",
            "critical",
            "A GPU hit uncorrectable memory errors.",
            f"{WHERE} had uncorrectable ECC errors in the last {WINDOW}; the CUDA contexts "
            "using that memory were killed.",
            dashboard="gpu",
        ),
        Alert(
            "GpuThermalThrottling",
            f"{agg('max', catalog.GPU_THROTTLE, (*DEVICE, 'reason'), reason=THERMAL)} == 1",
            "warning",
            "A GPU is slowing its clocks to cool down.",
            f"{WHERE} has been throttled by {{{{ $labels.reason }}}} for 10 minutes.",
            for_="10m",
            dashboard="gpu",
        ),
        Alert(
            "GpuPowerThrottling",
            f"{agg('max', catalog.GPU_THROTTLE, (*DEVICE, 'reason'), reason=POWER)} == 1",
            "warning",
            "A GPU's clocks are held down by a hardware power or slowdown signal.",
            f"{WHERE} has been throttled by {{{{ $labels.reason }}}} for 10 minutes.",
            for_="10m",
            dashboard="gpu",
        ),
    ]
