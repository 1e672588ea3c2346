"""GPU signals (the NVML collector and the GPU agents); joined into `exporter.catalog`."""

from __future__ import annotations

from exporter.catalog.entry import metric

# --- GPUs ----------------------------------------------------------------------------------
# Device series carry the pod holding the GPU (kubelet pod-resources) when one container
# holds it; `gpu_instance` marks a MIG device's own series (its parent GPU has none).
GPU_DEVICE_LABELS = ("gpu", "uuid", "node")
GPU_LABELS = GPU_DEVICE_LABELS + (
    "gpu_instance",
    "namespace",
    "pod",
    "container",
    "component_class",
)
GPU_UTILIZATION = metric(
    "gpu_utilization_ratio",
    "gauge",
    "GPU busy ratio (0..1) over the last sample period.",
    GPU_LABELS,
    "ratio",
)
GPU_MEMORY_USED = metric(
    "gpu_memory_used_bytes", "gauge", "GPU memory in use.", GPU_LABELS, "bytes"
)
GPU_MEMORY_TOTAL = metric(
    "gpu_memory_total_bytes", "gauge", "GPU memory installed.", GPU_LABELS, "bytes"
)
GPU_TEMPERATURE = metric(
    "gpu_temperature_celsius", "gauge", "GPU core temperature.", GPU_LABELS, "celsius"
)
GPU_POWER = metric("gpu_power_watts", "gauge", "GPU power draw.", GPU_LABELS, "watts")
GPU_ALLOCATED_DEVICES = metric(
    "gpu_allocated_devices",
    "gauge",
    "Device IDs of this GPU or MIG device (whole, or time-sliced replicas) the kubelet gave "
    "the container.",
    GPU_LABELS,
)
GPU_PROCESS_UTILIZATION = metric(
    "gpu_process_utilization_ratio",
    "gauge",
    "SM busy ratio (0..1) of the container's processes on this GPU (NVML per-process samples, "
    "summed); unlabelled: processes outside any pod.",
    GPU_LABELS,
    "ratio",
)
GPU_PROCESS_MEMORY_USED = metric(
    "gpu_process_memory_used_bytes",
    "gauge",
    "GPU memory used by the container's processes on this GPU.",
    GPU_LABELS,
    "bytes",
)
GPU_XID_ERRORS = metric(
    "gpu_xid_errors_total",
    "counter",
    "XID errors the driver reported for this GPU since the agent started, by XID code.",
    GPU_DEVICE_LABELS + ("xid",),
)
GPU_ECC_ERRORS = metric(
    "gpu_ecc_errors_total",
    "counter",
    "ECC memory errors by type (corrected, uncorrected) and scope (volatile: since the driver "
    "loaded; aggregate: the board's lifetime).",
    GPU_DEVICE_LABELS + ("type", "scope"),
)
GPU_RETIRED_PAGES = metric(
    "gpu_retired_pages",
    "gauge",
    "Memory pages retired, by cause (single_bit_ecc: repeated corrected errors; double_bit_ecc).",
    GPU_DEVICE_LABELS + ("cause",),
)
GPU_RETIRED_PAGES_PENDING = metric(
    "gpu_retired_pages_pending",
    "gauge",
    "1 if a page retirement waits for the next driver reload.",
    GPU_DEVICE_LABELS,
)
GPU_REMAPPED_ROWS = metric(
    "gpu_remapped_rows",
    "gauge",
    "Memory rows remapped (Ampere and later), by cause (correctable, uncorrectable).",
    GPU_DEVICE_LABELS + ("cause",),
)
GPU_ROW_REMAP_PENDING = metric(
    "gpu_row_remap_pending",
    "gauge",
    "1 if a row remapping waits for a GPU reset.",
    GPU_DEVICE_LABELS,
)
GPU_ROW_REMAP_FAILED = metric(
    "gpu_row_remap_failed",
    "gauge",
    "1 if a row remapping failed (the GPU needs servicing).",
    GPU_DEVICE_LABELS,
)
GPU_THROTTLE = metric(
    "gpu_clock_throttle_active",
    "gauge",
    "1 while this reason holds the clocks down (NVML clock event reasons), else 0.",
    GPU_DEVICE_LABELS + ("reason",),
)
GPU_CLOCK = metric(
    "gpu_clock_hertz",
    "gauge",
    "Current clock frequency (sm, memory).",
    GPU_DEVICE_LABELS + ("clock",),
    "hertz",
)
GPU_PCIE_THROUGHPUT = metric(
    "gpu_pcie_throughput_bytes_per_second",
    "gauge",
    "PCIe traffic over NVML's last 20 ms sample, by direction (tx, rx).",
    GPU_DEVICE_LABELS + ("direction",),
    "bytes",
)
