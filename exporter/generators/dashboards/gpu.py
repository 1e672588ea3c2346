"""GPU: NVIDIA GPUs read through NVML (utilisation, memory, temperature, power)."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import dedup


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    legend = "{{node}} GPU {{gpu}}"
    panels = [
        PanelSpec(
            "GPU utilisation",
            "Share of the last sample period each GPU was busy.",
            kit.UNIT["ratio"],
            [Query(dedup(catalog.GPU_UTILIZATION), legend)],
            max_value=1,
        ),
        PanelSpec(
            "GPU memory used ratio",
            "Memory in use over memory installed, per GPU. The red line is the memory threshold.",
            kit.UNIT["ratio"],
            [
                Query(
                    f"{dedup(catalog.GPU_MEMORY_USED)}\n/\n{dedup(catalog.GPU_MEMORY_TOTAL)}",
                    legend,
                )
            ],
            limit=t.memory_ratio,
            max_value=1,
        ),
        PanelSpec(
            "GPU memory used",
            "Memory in use per GPU.",
            kit.UNIT["bytes"],
            [Query(dedup(catalog.GPU_MEMORY_USED), legend)],
        ),
        PanelSpec(
            "GPU temperature",
            "Core temperature per GPU. The red line is the GpuTemperatureHigh threshold.",
            kit.UNIT["celsius"],
            [Query(dedup(catalog.GPU_TEMPERATURE), legend)],
            limit=t.gpu_temperature_celsius,
        ),
        PanelSpec(
            "GPU power",
            "Power draw per GPU.",
            "watt",
            [Query(dedup(catalog.GPU_POWER), legend)],
        ),
    ]
    return kit.dashboard("exporter-gpu", "GPU", "NVIDIA GPUs read through NVML.", panels, [])
