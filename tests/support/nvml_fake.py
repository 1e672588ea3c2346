"""A stand-in for NVML at the `pynvml` boundary, for machines without an NVIDIA GPU.

It replaces the pynvml functions the GPU collector calls with ones that keep the real
signatures, return the real ctypes structures (`c_nvmlMemory_t` in bytes,
`c_nvmlUtilization_t` in percent), report power in milliwatts and temperature in degrees
Celsius, and fail the way NVML does: `pynvml.NVMLError(code)`, which pynvml turns into
its subclass for that code (NVMLError_NotSupported, NVMLError_GpuIsLost, ...).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pynvml


@dataclass
class FakeGpu:
    uuid: str
    utilization_percent: int = 0
    memory_total: int = 80 * 1024**3
    memory_used: int = 0
    temperature_c: int = 40
    power_mw: int = 70_000
    # NVML function name -> NVML_ERROR_* code it fails with.
    errors: dict[str, int] = field(default_factory=dict)
    # NVML function name -> event the call waits on (a hung driver).
    blocks: dict[str, threading.Event] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeHandle:
    index: int


class FakeNvml:
    def __init__(self, gpus: list[FakeGpu], init_error: int | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.init_count = 0  # nvmlInit is reference-counted, as in the real library
        self.init_calls = 0

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

    def _gpu(self, handle: FakeHandle, call: str) -> FakeGpu:
        self._initialized()
        if not isinstance(handle, FakeHandle):
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
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid  # pynvml decodes to str

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> pynvml.c_nvmlUtilization_t:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        return pynvml.c_nvmlUtilization_t(gpu=gpu.utilization_percent, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle, version=None) -> pynvml.c_nvmlMemory_t:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        free = gpu.memory_total - gpu.memory_used
        return pynvml.c_nvmlMemory_t(total=gpu.memory_total, free=free, used=gpu.memory_used)

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTemperature")
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature_c

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw
