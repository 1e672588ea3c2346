"""Per-GPU utilisation, memory, temperature and power from NVML (nvidia-ml-py's `pynvml`).

`gpu: auto` runs this collector only when NVML initialises (one info line otherwise);
`gpu: on` runs it regardless and, without NVML, fails every cycle with the NVML error
(logged at start, `exporter_collector_up{collector="gpu"} 0`). A device call that fails
(NVML_ERROR_NOT_SUPPORTED for power on some boards, say) leaves out that one series and
is logged once; the other fields and GPUs still report.

NVML calls block, so a cycle runs in a worker thread; if a call hangs, the runtime's
timeout fails the cycle and no second thread is started until the first returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pynvml

from exporter import catalog
from exporter.catalog import MetricSpec
from exporter.config import Config
from exporter.runtime import Collector
from exporter.snapshot import Sample

log = logging.getLogger(__name__)


def nvml_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def try_init() -> str | None:
    """Initialise NVML; None on success, else why not (driver or library missing)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return nvml_error(exc)
    except OSError as exc:  # a broken libnvidia-ml.so
        return f"cannot load NVML: {exc}"
    return None


def _memory(handle: Any) -> list[tuple[MetricSpec, float]]:
    mem = pynvml.nvmlDeviceGetMemoryInfo(handle)  # bytes
    return [(catalog.GPU_MEMORY_USED, mem.used), (catalog.GPU_MEMORY_TOTAL, mem.total)]


def _utilization(handle: Any) -> list[tuple[MetricSpec, float]]:
    rates = pynvml.nvmlDeviceGetUtilizationRates(handle)  # percent over the sample period
    return [(catalog.GPU_UTILIZATION, rates.gpu / 100.0)]


def _temperature(handle: Any) -> list[tuple[MetricSpec, float]]:
    celsius = pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
    return [(catalog.GPU_TEMPERATURE, celsius)]


def _power(handle: Any) -> list[tuple[MetricSpec, float]]:
    milliwatts = pynvml.nvmlDeviceGetPowerUsage(handle)
    return [(catalog.GPU_POWER, milliwatts / 1000.0)]


# Each reader is one NVML call; a failure drops only its own series.
FIELDS: dict[str, Callable[[Any], list[tuple[MetricSpec, float]]]] = {
    "utilization": _utilization,
    "memory": _memory,
    "temperature": _temperature,
    "power": _power,
}


class GpuCollector(Collector):
    name = "gpu"

    def __init__(
        self,
        interval: float,
        timeout: float,
        node: str | None = None,
        initialized: bool = False,
    ) -> None:
        super().__init__(interval, timeout)
        self.node = os.environ.get("NODE_NAME", "") if node is None else node
        self.target = self.node or "local"
        self._initialized = initialized
        self._running: asyncio.Future[list[Sample]] | None = None
        self._logged: dict[tuple[int, str], str] = {}
        # Its own thread, so a hung driver never holds one of the loop's default workers.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nvml")

    async def collect(self) -> Sequence[Sample]:
        if self._running is not None and not self._running.done():
            raise RuntimeError("the previous NVML read has not returned (hung driver?)")
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(self._executor, self.read)
        # A read that outlives its cycle is never awaited: fetch its error so asyncio
        # does not log "exception was never retrieved".
        self._running.add_done_callback(lambda f: f.cancelled() or f.exception())
        # shield: a timed-out cycle must not mark a still-running read as done.
        return await asyncio.shield(self._running)

    def read(self) -> list[Sample]:
        """One blocking pass over every GPU."""
        if not self._initialized:
            error = try_init()
            if error is not None:
                raise RuntimeError(f"NVML is not available: {error}")
            self._initialized = True
        try:
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            # The driver went away (reload, upgrade): initialise again next cycle.
            self._shutdown()
            raise RuntimeError(f"NVML cannot count GPUs: {nvml_error(exc)}") from None
        out: list[Sample] = []
        for index in range(count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            except pynvml.NVMLError as exc:
                self._degraded(index, "handle", exc)
                continue
            self._recovered(index, "handle")
            labels = {"gpu": str(index), "uuid": self._uuid(index, handle), "node": self.node}
            for field, reader in FIELDS.items():
                try:
                    values = reader(handle)
                except pynvml.NVMLError as exc:
                    self._degraded(index, field, exc)
                    continue
                self._recovered(index, field)
                out += [Sample(spec, labels, value) for spec, value in values]
        return out

    def _uuid(self, index: int, handle: Any) -> str:
        try:
            uuid = pynvml.nvmlDeviceGetUUID(handle)
        except pynvml.NVMLError as exc:
            self._degraded(index, "uuid", exc)
            return ""
        self._recovered(index, "uuid")
        return uuid.decode() if isinstance(uuid, bytes) else str(uuid)

    def _degraded(self, index: int, field: str, exc: BaseException) -> None:
        error = nvml_error(exc)
        if self._logged.get((index, field)) != error:
            # Not-supported is a property of the board, not a fault: info, not warning.
            not_supported = getattr(exc, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED
            log.log(
                logging.INFO if not_supported else logging.WARNING,
                "gpu %d: %s left out: %s",
                index,
                field,
                error,
            )
            self._logged[(index, field)] = error

    def _recovered(self, index: int, field: str) -> None:
        if self._logged.pop((index, field), None) is not None:
            log.info("gpu %d: %s readable again", index, field)

    def _shutdown(self) -> None:
        if self._initialized:
            self._initialized = False
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                log.debug("nvmlShutdown failed: %s", exc)

    async def close(self) -> None:
        if self._running is None or self._running.done():
            self._shutdown()
        self._executor.shutdown(wait=False)


def build(config: Config) -> list[Collector]:
    """The GPU collector the `gpu:` setting asks for (none for off, or auto without NVML)."""
    mode = config.gpu
    interval = config.collection.interval_seconds
    timeout = config.collection.timeout_seconds
    if mode == "off":
        return []
    error = try_init()
    if error is None:
        return [GpuCollector(interval, timeout, initialized=True)]
    if mode == "auto":
        log.info("gpu: auto and NVML is not available (%s): GPU metrics are off", error)
        return []
    log.error(
        "gpu: on but NVML is not available (%s): the gpu collector reports "
        "exporter_collector_up 0 until NVML loads",
        error,
    )
    return [GpuCollector(interval, timeout, initialized=False)]
