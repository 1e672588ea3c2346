"""A stand-in for NVML at the `pynvml` boundary, for machines without an NVIDIA GPU.

It replaces the pynvml functions the GPU collector calls with ones that keep the real
signatures, return the real ctypes structures (`c_nvmlMemory_t` in bytes,
`c_nvmlUtilization_t` in percent, `c_nvmlProcessUtilizationSample_t` in percent with
microsecond timestamps), report power in milliwatts, temperature in degrees Celsius, clocks
in MHz and PCIe throughput in KB/s, and fail the way NVML does: `pynvml.NVMLError(code)`,
which pynvml turns into its subclass for that code (NVMLError_NotSupported, ...). As in
NVML: process utilisation with no sample newer than the timestamp is NVML_ERROR_NOT_FOUND,
an event wait with nothing queued is NVML_ERROR_TIMEOUT, an empty MIG slot is
NVML_ERROR_NOT_FOUND, and a board without MIG answers nvmlDeviceGetMigMode NOT_SUPPORTED.
Any call can be made to fail per GPU through `FakeGpu.errors`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pynvml


@dataclass
class FakeProcess:
    pid: int
    used_memory: int | None = 0  # bytes; None: NVML_VALUE_NOT_AVAILABLE (WDDM)
    sm_util: int | None = 0  # percent; None: the driver took no sample of it
    mem_util: int = 0


@dataclass
class FakeMig:
    uuid: str
    memory_total: int = 10 * 1024**3
    memory_used: int = 0


@dataclass
class FakeGpu:
    uuid: str
    utilization_percent: int = 0
    memory_total: int = 80 * 1024**3
    memory_used: int = 0
    temperature_c: int = 40
    power_mw: int = 70_000
    processes: list[FakeProcess] = field(default_factory=list)
    # (NVML_MEMORY_ERROR_TYPE_*, NVML_*_ECC) -> count
    ecc: dict[tuple[int, int], int] = field(default_factory=dict)
    retired_pages: dict[int, list[int]] = field(default_factory=dict)  # cause -> addresses
    retired_pages_pending: int = 0
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)  # corr, unc, pending, failure
    clocks_event_reasons: int = 0
    clocks_mhz: dict[int, int] = field(default_factory=lambda: {1: 1980, 2: 2619})
    pcie_kb_per_s: dict[int, int] = field(default_factory=lambda: {0: 1024, 1: 2048})
    mig_mode: tuple[int, int] | None = None  # (current, pending); None: no MIG support
    mig_slots: list[FakeMig | None] = field(default_factory=list)
    supported_events: int = pynvml.nvmlEventTypeXidCriticalError
    # NVML function name -> NVML_ERROR_* code it fails with.
    errors: dict[str, int] = field(default_factory=dict)
    # NVML function name -> event the call waits on (a hung driver).
    blocks: dict[str, threading.Event] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeHandle:
    index: int
    mig: int | None = None  # a MIG device handle: its slot on the parent


@dataclass
class FakeEventData:
    """c_nvmlEventData_t's fields (a ctypes struct cannot hold a fake device handle)."""

    device: FakeHandle
    eventType: int  # noqa: N815 - NVML's names
    eventData: int  # noqa: N815
    gpuInstanceId: int = 0xFFFFFFFF  # noqa: N815
    computeInstanceId: int = 0xFFFFFFFF  # noqa: N815


class FakeEventSet:
    def __init__(self) -> None:
        self.registered: dict[int, int] = {}  # gpu index -> event type mask
        self.freed = False


class FakeNvml:
    def __init__(self, gpus: list[FakeGpu], init_error: int | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.init_count = 0  # nvmlInit is reference-counted, as in the real library
        self.init_calls = 0
        self.event_sets: list[FakeEventSet] = []
        self.pending_events: list[tuple[int, int, int]] = []  # (gpu, event type, data)

    def install(self, monkeypatch) -> FakeNvml:
        for name in (
            "nvmlInit",
            "nvmlShutdown",
            "nvmlDeviceGetCount",
            "nvmlDeviceGetHandleByIndex",
            "nvmlDeviceGetUUID",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetMemoryInfo",
            "nvmlDeviceGetTemperature",
            "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetProcessUtilization",
            "nvmlDeviceGetTotalEccErrors",
            "nvmlDeviceGetRetiredPages",
            "nvmlDeviceGetRetiredPagesPendingStatus",
            "nvmlDeviceGetRemappedRows",
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
            "nvmlDeviceGetClockInfo",
            "nvmlDeviceGetPcieThroughput",
            "nvmlDeviceGetMigMode",
            "nvmlDeviceGetMaxMigDeviceCount",
            "nvmlDeviceGetMigDeviceHandleByIndex",
            "nvmlDeviceGetSupportedEventTypes",
            "nvmlEventSetCreate",
            "nvmlDeviceRegisterEvents",
            "nvmlEventSetWait",
            "nvmlEventSetFree",
        ):
            monkeypatch.setattr(pynvml, name, getattr(self, name))
        return self

    # --- library ---------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self._initialized()
        self.init_count -= 1

    def _initialized(self) -> None:
        if self.init_count <= 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def xid(self, index: int, code: int) -> None:
        """The driver reports XID `code` on GPU `index` (delivered to registered event sets)."""
        self.pending_events.append((index, pynvml.nvmlEventTypeXidCriticalError, code))

    def _gpu(self, handle: FakeHandle, call: str) -> FakeGpu:
        self._initialized()
        if not isinstance(handle, FakeHandle) or handle.mig is not None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[handle.index]
        if call in gpu.blocks:
            gpu.blocks[call].wait()
        if call in gpu.errors:
            raise pynvml.NVMLError(gpu.errors[call])
        return gpu

    # --- devices ---------------------------------------------------------------------------
    def nvmlDeviceGetCount(self) -> int:
        self._initialized()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._initialized()
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self._gpu(FakeHandle(index), "nvmlDeviceGetHandleByIndex")
        return FakeHandle(index)

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        if isinstance(handle, FakeHandle) and handle.mig is not None:
            return self._mig(handle).uuid
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid  # pynvml decodes to str

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> pynvml.c_nvmlUtilization_t:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        return pynvml.c_nvmlUtilization_t(gpu=gpu.utilization_percent, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle, version=None) -> pynvml.c_nvmlMemory_t:
        gpu = self._mig(handle) if handle.mig is not None else None
        gpu = gpu or self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        free = gpu.memory_total - gpu.memory_used
        return pynvml.c_nvmlMemory_t(total=gpu.memory_total, free=free, used=gpu.memory_used)

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTemperature")
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature_c

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    # --- processes -------------------------------------------------------------------------
    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        out = []
        for p in gpu.processes:
            memory = pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value
            info = pynvml.c_nvmlProcessInfo_v3_t(
                pid=p.pid,
                usedGpuMemory=memory if p.used_memory is None else p.used_memory,
                gpuInstanceId=0xFFFFFFFF,
                computeInstanceId=0xFFFFFFFF,
            )
            obj = pynvml.nvmlStructToFriendlyObject(info)
            if obj.usedGpuMemory == memory:  # as pynvml does
                obj.usedGpuMemory = None
            out.append(obj)
        return out

    def nvmlDeviceGetProcessUtilization(self, handle: FakeHandle, timeStamp: int) -> list:  # noqa: N803
        gpu = self._gpu(handle, "nvmlDeviceGetProcessUtilization")
        now_us = int(time.time() * 1e6)  # the driver sampled every process just now
        samples = [
            pynvml.c_nvmlProcessUtilizationSample_t(
                pid=p.pid, timeStamp=now_us, smUtil=p.sm_util, memUtil=p.mem_util, encUtil=0,
                decUtil=0,
            )
            for p in gpu.processes
            if p.sm_util is not None and now_us > timeStamp
        ]  # fmt: skip
        if not samples:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return samples

    # --- health ----------------------------------------------------------------------------
    def nvmlDeviceGetTotalEccErrors(
        self, handle: FakeHandle, errorType: int, counterType: int
    ) -> int:  # noqa: N803
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEccErrors")
        if errorType not in (0, 1) or counterType not in (0, 1):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.ecc.get((errorType, counterType), 0)

    def nvmlDeviceGetRetiredPages(self, device: FakeHandle, sourceFilter: int) -> list[int]:  # noqa: N803
        gpu = self._gpu(device, "nvmlDeviceGetRetiredPages")
        return list(gpu.retired_pages.get(sourceFilter, []))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, device: FakeHandle) -> int:
        return self._gpu(device, "nvmlDeviceGetRetiredPagesPendingStatus").retired_pages_pending

    def nvmlDeviceGetRemappedRows(self, device: FakeHandle) -> tuple[int, int, int, int]:
        return self._gpu(device, "nvmlDeviceGetRemappedRows").remapped_rows

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeHandle) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons").clocks_event_reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeHandle) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons")
        return gpu.clocks_event_reasons

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, type: int) -> int:  # noqa: A002
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        if type not in gpu.clocks_mhz:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.clocks_mhz[type]

    def nvmlDeviceGetPcieThroughput(self, device: FakeHandle, counter: int) -> int:
        gpu = self._gpu(device, "nvmlDeviceGetPcieThroughput")
        if counter not in (pynvml.NVML_PCIE_UTIL_TX_BYTES, pynvml.NVML_PCIE_UTIL_RX_BYTES):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.pcie_kb_per_s[counter]

    # --- MIG -------------------------------------------------------------------------------
    def _mig(self, handle: FakeHandle) -> FakeMig:
        self._initialized()
        slot = self.gpus[handle.index].mig_slots[handle.mig]
        if slot is None:  # the MIG device was destroyed since the handle was taken
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return slot

    def nvmlDeviceGetMigMode(self, device: FakeHandle) -> list[int]:
        gpu = self._gpu(device, "nvmlDeviceGetMigMode")
        if gpu.mig_mode is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return list(gpu.mig_mode)

    def nvmlDeviceGetMaxMigDeviceCount(self, device: FakeHandle) -> int:
        gpu = self._gpu(device, "nvmlDeviceGetMaxMigDeviceCount")
        if gpu.mig_mode is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return len(gpu.mig_slots)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: FakeHandle, index: int) -> FakeHandle:
        gpu = self._gpu(device, "nvmlDeviceGetMigDeviceHandleByIndex")
        if not 0 <= index < len(gpu.mig_slots):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if gpu.mig_slots[index] is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return FakeHandle(device.index, index)

    # --- events ----------------------------------------------------------------------------
    def nvmlDeviceGetSupportedEventTypes(self, handle: FakeHandle) -> int:
        return self._gpu(handle, "nvmlDeviceGetSupportedEventTypes").supported_events

    def nvmlEventSetCreate(self) -> FakeEventSet:
        self._initialized()
        event_set = FakeEventSet()
        self.event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(self, handle: FakeHandle, eventTypes: int, eventSet) -> None:  # noqa: N803
        gpu = self._gpu(handle, "nvmlDeviceRegisterEvents")
        if eventTypes & ~gpu.supported_events:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        eventSet.registered[handle.index] = eventSet.registered.get(handle.index, 0) | eventTypes

    def nvmlEventSetWait(self, eventSet, timeoutms: int) -> FakeEventData:
        self._initialized()
        for i, (index, kind, data) in enumerate(self.pending_events):
            if eventSet.registered.get(index, 0) & kind:
                del self.pending_events[i]
                return FakeEventData(FakeHandle(index), kind, data)
        if timeoutms:
            time.sleep(timeoutms / 1000)
        raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)

    def nvmlEventSetFree(self, eventSet) -> None:
        self._initialized()
        eventSet.freed = True
