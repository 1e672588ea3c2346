"""GPU: NVIDIA GPUs read through NVML, per device, per component class and per pod
(utilisation, memory, temperature, power), and their health (XID, ECC, retired pages and
remapped rows, throttle reasons, clocks, PCIe)."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup, max_rate

DEVICE = ("node", "gpu")
LEGEND = "{{node}} GPU {{gpu}}"
POD = ("component_class", "namespace", "pod")
HELD = {"pod": '!=""', "component_class": kit.CLASS}


def pod_utilization() -> str:
    """Each pod's GPU busy ratio: the mean of the GPUs it holds alone, or its processes'
    share of a GPU it shares (the metrics API's gpu_utilization_ratio averages these)."""
    exclusive = agg("avg", catalog.GPU_UTILIZATION, POD, **HELD)
    shared = agg("sum", catalog.GPU_PROCESS_UTILIZATION, POD, **HELD)
    return f"{exclusive}\nor\n{shared}"


def device_panels(config: Config) -> list[PanelSpec]:
    t = config.alerting.thresholds
    return [
        PanelSpec(
            "GPU utilisation",
            "Share of the last sample period each GPU was busy.",
            kit.UNIT["ratio"],
            [Query(dedup(catalog.GPU_UTILIZATION), LEGEND)],
            max_value=1,
        ),
        PanelSpec(
            "GPU memory used ratio",
            "Memory in use over memory installed, per GPU. The red line is the memory threshold.",
            kit.UNIT["ratio"],
            [
                Query(
                    f"{dedup(catalog.GPU_MEMORY_USED)}\n/\n{dedup(catalog.GPU_MEMORY_TOTAL)}",
                    LEGEND,
                )
            ],
            limit=t.memory_ratio,
            max_value=1,
        ),
        PanelSpec(
            "GPU memory used",
            "Memory in use per GPU.",
            kit.UNIT["bytes"],
            [Query(dedup(catalog.GPU_MEMORY_USED), LEGEND)],
        ),
        PanelSpec(
            "GPU temperature",
            "Core temperature per GPU. The red line is the GpuTemperatureHigh threshold.",
            kit.UNIT["celsius"],
            [Query(dedup(catalog.GPU_TEMPERATURE), LEGEND)],
            limit=t.gpu_temperature_celsius,
        ),
        PanelSpec(
            "GPU power",
            "Power draw per GPU.",
            "watt",
            [Query(dedup(catalog.GPU_POWER), LEGEND)],
        ),
    ]


def pod_panels() -> list[PanelSpec]:
    return [
        PanelSpec(
            "GPU utilisation per class",
            "Mean over the class's pods of each pod's GPU busy ratio: what the GPU class's "
            "HPA reads as gpu_utilization_ratio.",
            kit.UNIT["ratio"],
            [Query(f"avg by (component_class) (\n{pod_utilization()}\n)", "{{component_class}}")],
            max_value=1,
        ),
        PanelSpec(
            "GPU utilisation per pod",
            "Each pod's GPU busy ratio: its GPUs' mean when it holds them alone, its own "
            "processes' share when the GPU is time-sliced or shared.",
            kit.UNIT["ratio"],
            [Query(pod_utilization(), "{{namespace}}/{{pod}}")],
            max_value=1,
        ),
        PanelSpec(
            "GPU memory per pod",
            "GPU memory used by each pod's processes, all its GPUs together.",
            kit.UNIT["bytes"],
            [
                Query(
                    agg("sum", catalog.GPU_PROCESS_MEMORY_USED, POD, **HELD),
                    "{{namespace}}/{{pod}}",
                )
            ],
        ),
        PanelSpec(
            "GPU holders",
            "Device IDs (whole GPU, MIG device or time-sliced replicas) the kubelet gave each "
            "pod, per GPU: more than one pod on a GPU means it is shared.",
            kit.COUNT,
            [
                Query(
                    agg(
                        "max", catalog.GPU_ALLOCATED_DEVICES, (*DEVICE, "uuid", "namespace", "pod")
                    ),
                    "{{node}} GPU {{gpu}} {{uuid}}: {{namespace}}/{{pod}}",
                )
            ],
        ),
    ]


def health_panels() -> list[PanelSpec]:
    return [
        PanelSpec(
            "XID errors",
            "XID errors the driver reported, by code (see the GpuXidError runbook section).",
            kit.COUNT,
            [
                Query(
                    max_rate(
                        catalog.GPU_XID_ERRORS, (*DEVICE, "xid"), kit.RATE_INTERVAL, "increase"
                    ),
                    LEGEND + " XID {{xid}}",
                )
            ],
        ),
        PanelSpec(
            "ECC errors",
            "ECC errors since the driver loaded, by type: uncorrected ones kill CUDA contexts.",
            kit.COUNT,
            [
                Query(
                    max_rate(
                        catalog.GPU_ECC_ERRORS,
                        (*DEVICE, "type"),
                        kit.RATE_INTERVAL,
                        "increase",
                        scope="volatile",
                    ),
                    LEGEND + " {{type}}",
                )
            ],  # fmt: skip
        ),
        PanelSpec(
            "Retired pages and remapped rows",
            "Memory taken out of service (pages before Ampere, rows since), by cause.",
            kit.COUNT,
            [
                Query(
                    agg("max", catalog.GPU_RETIRED_PAGES, (*DEVICE, "cause")),
                    LEGEND + " retired {{cause}}",
                ),
                Query(
                    agg("max", catalog.GPU_REMAPPED_ROWS, (*DEVICE, "cause")),
                    LEGEND + " remapped {{cause}}",
                ),
            ],  # fmt: skip
        ),
        PanelSpec(
            "Memory repair pending or failed",
            "1 while a page retirement or row remapping waits for a GPU reset, or a remapping "
            "failed (the GPU needs service).",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.GPU_RETIRED_PAGES_PENDING, DEVICE),
                    LEGEND + " page retirement pending",
                ),
                Query(
                    agg("max", catalog.GPU_ROW_REMAP_PENDING, DEVICE), LEGEND + " row remap pending"
                ),
                Query(
                    agg("max", catalog.GPU_ROW_REMAP_FAILED, DEVICE), LEGEND + " row remap failed"
                ),
            ],  # fmt: skip
            max_value=1,
        ),
        PanelSpec(
            "Throttle reasons",
            "1 while a reason holds the clocks down (idle excluded). Thermal and hardware "
            "power reasons page after 10 minutes; sw_power_cap at full load is normal.",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.GPU_THROTTLE, (*DEVICE, "reason"), reason='!="gpu_idle"'),
                    LEGEND + " {{reason}}",
                )
            ],
            max_value=1,
        ),
        PanelSpec(
            "Clocks",
            "Current SM and memory clocks.",
            "hertz",
            [Query(agg("max", catalog.GPU_CLOCK, (*DEVICE, "clock")), LEGEND + " {{clock}}")],
        ),
        PanelSpec(
            "PCIe throughput",
            "PCIe traffic per direction (NVML's 20 ms sample), where the board reports it.",
            "Bps",
            [
                Query(
                    agg("max", catalog.GPU_PCIE_THROUGHPUT, (*DEVICE, "direction")),
                    LEGEND + " {{direction}}",
                )
            ],
        ),
    ]


def build(config: Config) -> Dashboard:
    panels = device_panels(config) + pod_panels() + health_panels()
    return kit.dashboard(
        "exporter-gpu",
        "GPU",
        "NVIDIA GPUs read through NVML: per device, per component class and pod, and health.",
        panels,
        kit.class_vars(config),
    )
