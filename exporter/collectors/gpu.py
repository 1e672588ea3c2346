"""Per-GPU utilisation, memory, temperature, power and health from NVML (`pynvml`), with the
pod that holds each GPU.

`gpu: auto` runs this collector only when NVML initialises (one info line otherwise);
`gpu: on` runs it regardless and, without NVML, fails every cycle with the NVML error
(logged at start, `exporter_collector_up{collector="gpu"} 0`). A device call that fails
(NVML_ERROR_NOT_SUPPORTED for power on some boards, say) leaves out that one series and
is logged once; the other fields and GPUs still report.

Health fields (ECC, retired pages / remapped rows, throttle reasons, clocks, PCIe:
`gpu_health`), per-process use (`gpu_processes`) and MIG devices degrade the same way, each
field alone; XID errors come from NVML events (`gpu_xid`). Pod labels (`namespace`, `pod`,
`container`, `component_class`) come from `gpu_pods.Attribution`; when the kubelet cannot be
asked the series go out unlabelled, the collector does not fail.

NVML calls block, so a cycle runs in a worker thread (the kubelet and Kubernetes calls too);
if a call hangs, the runtime's timeout fails the cycle and no second thread is started until
the first returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pynvml

from exporter import catalog
from exporter.catalog import MetricSpec
from exporter.collectors import gpu_processes
from exporter.collectors.gpu_health import HEALTH_FIELDS, SLOW_FIELDS
from exporter.collectors.gpu_pods import Attribution, build_attribution
from exporter.collectors.gpu_xid import XidEvents
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


def _uuid_text(uuid: Any) -> str:
    return uuid.decode() if isinstance(uuid, bytes) else str(uuid)


Reader = Callable[[Any], list[tuple[MetricSpec, float]]]

# Each reader is one NVML call; a failure drops only its own series.
FIELDS: dict[str, Reader] = {
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
        attribution: Attribution | None = None,
    ) -> None:
        super().__init__(interval, timeout)
        self.node = os.environ.get("NODE_NAME", "") if node is None else node
        self.target = self.node or "local"
        self._initialized = initialized
        self._running: asyncio.Future[list[Sample]] | None = None
        self._logged: dict[tuple[int, str], str] = {}
        self.attribution = attribution
        self._xid = XidEvents()
        self._process_since: dict[str, int] = {}  # uuid -> newest process sample (us)
        # (gpu index, field) -> (monotonic time read, readings) for SLOW_FIELDS
        self._slow: dict[tuple[int, str], tuple[float, Any]] = {}
        self.clock: Callable[[], float] = time.monotonic
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
        if self.attribution is not None:
            self.attribution.refresh()
        self._drain_xid()
        out: list[Sample] = []
        for index in range(count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            except pynvml.NVMLError as exc:
                self._degraded(index, "handle", exc)
                continue
            self._recovered(index, "handle")
            out += self._device(index, handle)
        return out

    def _device(self, index: int, handle: Any) -> list[Sample]:
        uuid = self._uuid(index, handle)
        device = {"gpu": str(index), "uuid": uuid, "node": self.node}
        labels = {**device, **self._pod_labels(uuid)}
        out = self._fields(index, handle, labels, FIELDS)
        for field, reader in HEALTH_FIELDS.items():
            readings = self._read_health(index, field, reader, handle)
            out += [Sample(spec, {**device, **extra}, v) for spec, v, extra in readings or ()]
        out += self._allocations(device, uuid)
        out += self._processes(index, handle, device, uuid)
        out += self._mig_devices(index, handle, device)
        if uuid:
            self._register_xid(index, uuid, handle)
            for code, count in sorted(self._xid.counts.get(uuid, {}).items()):
                out.append(Sample(catalog.GPU_XID_ERRORS, {**device, "xid": str(code)}, count))
        return out

    def _read(self, index: int, field: str, reader: Callable[[Any], Any], handle: Any) -> Any:
        """One field's reader, or None (logged once) when NVML refuses it."""
        try:
            value = reader(handle)
        except pynvml.NVMLError as exc:
            self._degraded(index, field, exc)
            return None
        self._recovered(index, field)
        return value

    def _read_health(
        self, index: int, field: str, reader: Callable[[Any], Any], handle: Any
    ) -> Any:
        """`_read`, but a SLOW_FIELDS field is read again only once its period has passed
        (its last readings are repeated meanwhile; a failed read is retried next cycle)."""
        period = SLOW_FIELDS.get(field)
        if period is None:
            return self._read(index, field, reader, handle)
        now = self.clock()
        cached = self._slow.get((index, field))
        if cached is not None and now - cached[0] < period:
            return cached[1]
        readings = self._read(index, field, reader, handle)
        if readings is None:
            self._slow.pop((index, field), None)
        else:
            self._slow[(index, field)] = (now, readings)
        return readings

    def _fields(
        self, index: int, handle: Any, labels: dict[str, str], fields: dict[str, Reader]
    ) -> list[Sample]:
        out: list[Sample] = []
        for field, reader in fields.items():
            values = self._read(index, field, reader, handle)
            out += [Sample(spec, labels, value) for spec, value in values or ()]
        return out

    def _pod_labels(self, uuid: str) -> dict[str, str]:
        return self.attribution.device_labels(uuid) if self.attribution and uuid else {}

    def _allocations(self, device: dict[str, str], uuid: str) -> list[Sample]:
        if self.attribution is None or not uuid:
            return []
        return [
            Sample(
                catalog.GPU_ALLOCATED_DEVICES,
                {**device, **self.attribution.container_labels(ref)},
                count,
            )
            for ref, count in sorted(self.attribution.holders(uuid).items())
        ]

    def _processes(
        self, index: int, handle: Any, device: dict[str, str], uuid: str
    ) -> list[Sample]:
        memory = self._read(index, "processes", gpu_processes.running_processes, handle)
        since = self._process_since.get(uuid, 0)
        sm = self._read(
            index, "process_utilization", lambda h: gpu_processes.utilization(h, since), handle
        )
        if sm is not None:
            sm, self._process_since[uuid] = sm
        if memory is None and sm is None:
            return []

        def labels_of(pid: int) -> dict[str, str]:
            return self.attribution.process_labels(pid, uuid) if self.attribution else {}

        return gpu_processes.per_container(device, memory, sm, labels_of)

    def _mig_devices(self, index: int, handle: Any, device: dict[str, str]) -> list[Sample]:
        """A MIG-enabled GPU's instances: memory per MIG device, labelled with its holder."""
        try:
            mode = pynvml.nvmlDeviceGetMigMode(handle)
        except pynvml.NVMLError_NotSupported:
            return []  # a board without MIG: nothing to say, nothing to log
        except pynvml.NVMLError as exc:
            self._degraded(index, "mig", exc)
            return []
        self._recovered(index, "mig")
        if mode[0] != pynvml.NVML_DEVICE_MIG_ENABLE:
            return []
        slots = self._read(index, "mig", pynvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
        out: list[Sample] = []
        for slot in range(slots):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except pynvml.NVMLError_NotFound:
                continue  # no MIG device in this slot
            except pynvml.NVMLError as exc:
                self._degraded(index, f"mig {slot}", exc)
                continue
            mig_uuid = self._read(index, f"mig {slot} uuid", pynvml.nvmlDeviceGetUUID, mig)
            if not mig_uuid:
                continue
            mig_id = str(mig_uuid)
            mig_device = {**device, "uuid": mig_id, "gpu_instance": str(slot)}
            labels = {**mig_device, **self._pod_labels(mig_id)}
            out += self._fields(index, mig, labels, {f"mig {slot} memory": _memory})
            out += self._allocations(mig_device, mig_id)
        return out

    def _register_xid(self, index: int, uuid: str, handle: Any) -> None:
        if self._xid.registered(uuid) or (index, "xid_events") in self._logged:
            return  # registered, or refused once already (retried after a driver reload)
        try:
            self._xid.register(uuid, handle)
        except pynvml.NVMLError as exc:
            self._degraded(index, "xid_events", exc)

    def _drain_xid(self) -> None:
        try:
            self._xid.drain(lambda h: _uuid_text(pynvml.nvmlDeviceGetUUID(h)))
        except pynvml.NVMLError as exc:
            log.warning("gpu: reading XID events failed, re-registering: %s", nvml_error(exc))
            self._xid.reset()

    def _uuid(self, index: int, handle: Any) -> str:
        try:
            uuid = pynvml.nvmlDeviceGetUUID(handle)
        except pynvml.NVMLError as exc:
            self._degraded(index, "uuid", exc)
            return ""
        self._recovered(index, "uuid")
        return _uuid_text(uuid)

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
            self._xid.reset()
            self._slow.clear()  # a new NVML session reads every field afresh
            # refused XID registrations are retried on the new NVML session
            self._logged = {k: v for k, v in self._logged.items() if k[1] != "xid_events"}
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                log.debug("nvmlShutdown failed: %s", exc)

    async def close(self) -> None:
        if self._running is None or self._running.done():
            self._shutdown()
            if self.attribution is not None:
                self.attribution.close()
        self._executor.shutdown(wait=False)


def build(config: Config) -> list[Collector]:
    """The GPU collector the `gpu:` setting asks for (none for off, or auto without NVML),
    with the pod attribution `gpu_attribution` asks for."""
    mode = config.gpu
    # GPU utilisation is a scaling signal: it runs on the queue schedule.
    interval = config.collection.queues.interval_seconds
    timeout = config.collection.queues.timeout_seconds
    if mode == "off":
        return []
    node = os.environ.get("NODE_NAME", "")

    def attribution() -> Attribution | None:
        return build_attribution(config, node, interval, timeout)

    error = try_init()
    if error is None:
        return [GpuCollector(interval, timeout, node, initialized=True, attribution=attribution())]
    if mode == "auto":
        log.info("gpu: auto and NVML is not available (%s): GPU metrics are off", error)
        return []
    log.error(
        "gpu: on but NVML is not available (%s): the gpu collector reports "
        "exporter_collector_up 0 until NVML loads",
        error,
    )
    return [GpuCollector(interval, timeout, node, initialized=False, attribution=attribution())]
