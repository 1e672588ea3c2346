"""What GPU on-call pages on: ECC errors, retired pages / remapped rows, clock throttle
reasons, clocks and PCIe traffic, read from NVML one field at a time.

Each reader is one NVML call family and returns (spec, value, extra labels) triples; the GPU
collector drops only that field when it raises (NVML_ERROR_NOT_SUPPORTED on boards without
ECC, row remapping before Ampere, PCIe counters on some virtual GPUs). Values are converted to
base units here: clocks MHz -> Hz, PCIe KB/s -> bytes/s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pynvml

from exporter import catalog
from exporter.catalog import MetricSpec

Reading = tuple[MetricSpec, float, dict[str, str]]

ECC_TYPES = {"corrected": pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED,
             "uncorrected": pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED}  # fmt: skip
ECC_SCOPES = {"volatile": pynvml.NVML_VOLATILE_ECC, "aggregate": pynvml.NVML_AGGREGATE_ECC}
RETIREMENT_CAUSES = {
    "single_bit_ecc": pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
    "double_bit_ecc": pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
}
# The clock event (throttle) reasons NVML defines, by the label value they get.
THROTTLE_REASONS = {
    "gpu_idle": pynvml.nvmlClocksEventReasonGpuIdle,
    "applications_clocks_setting": pynvml.nvmlClocksEventReasonApplicationsClocksSetting,
    "sw_power_cap": pynvml.nvmlClocksEventReasonSwPowerCap,
    "hw_slowdown": pynvml.nvmlClocksEventReasonHwSlowdown,
    "sync_boost": pynvml.nvmlClocksEventReasonSyncBoost,
    "sw_thermal_slowdown": pynvml.nvmlClocksEventReasonSwThermalSlowdown,
    "hw_thermal_slowdown": pynvml.nvmlClocksEventReasonHwThermalSlowdown,
    "hw_power_brake_slowdown": pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
    "display_clock_setting": pynvml.nvmlClocksEventReasonDisplayClockSetting,
}
CLOCKS = {"sm": pynvml.NVML_CLOCK_SM, "memory": pynvml.NVML_CLOCK_MEM}
PCIE = {"tx": pynvml.NVML_PCIE_UTIL_TX_BYTES, "rx": pynvml.NVML_PCIE_UTIL_RX_BYTES}


def _ecc(handle: Any) -> list[Reading]:
    return [
        (catalog.GPU_ECC_ERRORS, pynvml.nvmlDeviceGetTotalEccErrors(handle, kind, scope),
         {"type": type_name, "scope": scope_name})
        for type_name, kind in ECC_TYPES.items()
        for scope_name, scope in ECC_SCOPES.items()
    ]  # fmt: skip


def _retired_pages(handle: Any) -> list[Reading]:
    out: list[Reading] = [
        (catalog.GPU_RETIRED_PAGES, len(pynvml.nvmlDeviceGetRetiredPages(handle, cause)),
         {"cause": name})
        for name, cause in RETIREMENT_CAUSES.items()
    ]  # fmt: skip
    pending = pynvml.nvmlDeviceGetRetiredPagesPendingStatus(handle)
    return out + [(catalog.GPU_RETIRED_PAGES_PENDING, float(bool(pending)), {})]


def _remapped_rows(handle: Any) -> list[Reading]:
    corrected, uncorrected, pending, failed = pynvml.nvmlDeviceGetRemappedRows(handle)
    return [
        (catalog.GPU_REMAPPED_ROWS, corrected, {"cause": "correctable"}),
        (catalog.GPU_REMAPPED_ROWS, uncorrected, {"cause": "uncorrectable"}),
        (catalog.GPU_ROW_REMAP_PENDING, float(bool(pending)), {}),
        (catalog.GPU_ROW_REMAP_FAILED, float(bool(failed)), {}),
    ]


def _throttle(handle: Any) -> list[Reading]:
    try:
        mask = pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
    except pynvml.NVMLError_FunctionNotFound:  # drivers before 535 know only the old name
        mask = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
    return [
        (catalog.GPU_THROTTLE, float(bool(mask & bit)), {"reason": name})
        for name, bit in THROTTLE_REASONS.items()
    ]


def _clocks(handle: Any) -> list[Reading]:
    return [
        (catalog.GPU_CLOCK, pynvml.nvmlDeviceGetClockInfo(handle, clock) * 1e6, {"clock": name})
        for name, clock in CLOCKS.items()
    ]


def _pcie(handle: Any) -> list[Reading]:
    return [
        (catalog.GPU_PCIE_THROUGHPUT, pynvml.nvmlDeviceGetPcieThroughput(handle, counter) * 1024,
         {"direction": name})
        for name, counter in PCIE.items()
    ]  # fmt: skip


# field name (in log lines) -> reader; a reader's NVMLError drops that field alone.
HEALTH_FIELDS: dict[str, Callable[[Any], list[Reading]]] = {
    "ecc": _ecc,
    "retired_pages": _retired_pages,
    "remapped_rows": _remapped_rows,
    "throttle_reasons": _throttle,
    "clocks": _clocks,
    "pcie": _pcie,
}

# Fields whose NVML call waits while it samples, read at most this often (seconds) and the
# last reading repeated in between. nvmlDeviceGetPcieThroughput measures over 20 ms per
# counter: on an H200 it was 42 of a 46 ms cycle (bench/gpu.py), per GPU, on every cycle.
SLOW_FIELDS: dict[str, float] = {"pcie": 10.0}
