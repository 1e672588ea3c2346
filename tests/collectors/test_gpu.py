"""GPU collector: NVML through a test double where no GPU exists, real NVML where one does."""

from __future__ import annotations

import asyncio
import logging
import threading

import pynvml
import pytest

from exporter.collectors import gpu as gpu_mod
from exporter.collectors.gpu import GpuCollector
from exporter.config import Collection, Config
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.nvml_fake import FakeGpu, FakeNvml
from tests.support.servers import exporter_process, free_port, sample_value, scrape, wait_for

GIB = 1024**3


def _build(mode: str, interval: float, timeout: float) -> list:
    """The registry factory on a config holding only the gpu and collection settings."""
    collection = Collection(interval_seconds=interval, timeout_seconds=timeout)
    return gpu_mod.build(Config(gpu=mode, collection=collection))


def _real_nvml_error() -> str | None:
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError, OSError) as exc:
        return str(exc)
    pynvml.nvmlShutdown()
    return None


REAL_NVML_ERROR = _real_nvml_error()


BASE = {"gpu_utilization_ratio", "gpu_memory_used_bytes", "gpu_memory_total_bytes",
        "gpu_temperature_celsius", "gpu_power_watts"}  # fmt: skip


def _base(samples) -> list:
    """The device series every GPU has had from the start (health fields come on top)."""
    return [s for s in samples if s.spec.name in BASE]


def _by_gpu(samples) -> dict[tuple[str, str], float]:
    return {(s.labels["gpu"], s.spec.name): s.value for s in _base(samples)}


@pytest.fixture
def two_gpus(monkeypatch) -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu("GPU-0a", utilization_percent=87, memory_used=30 * GIB, temperature_c=71,
                    power_mw=312_500),
            FakeGpu("GPU-1b", utilization_percent=0, memory_total=40 * GIB, memory_used=GIB,
                    temperature_c=35, power_mw=61_000),
        ]
    ).install(monkeypatch)  # fmt: skip


async def test_reads_every_gpu_in_base_units(two_gpus, monkeypatch):
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    col = _build("auto", 1.0, 1.0)[0]
    samples = await col.collect()
    v = _by_gpu(samples)
    assert v[("0", "gpu_utilization_ratio")] == pytest.approx(0.87)
    assert v[("0", "gpu_memory_used_bytes")] == 30 * GIB
    assert v[("0", "gpu_memory_total_bytes")] == 80 * GIB
    assert v[("0", "gpu_temperature_celsius")] == 71
    assert v[("0", "gpu_power_watts")] == 312.5  # NVML reports milliwatts
    assert v[("1", "gpu_utilization_ratio")] == 0
    assert v[("1", "gpu_memory_total_bytes")] == 40 * GIB
    assert v[("1", "gpu_power_watts")] == 61.0
    labels = {s.labels["gpu"]: dict(s.labels) for s in _base(samples)}
    assert labels["0"] == {"gpu": "0", "uuid": "GPU-0a", "node": "gpu-node-7"}
    assert labels["1"]["uuid"] == "GPU-1b"
    assert col.target == "gpu-node-7"
    await col.close()
    assert two_gpus.init_count == 0  # nvmlShutdown balanced the build's nvmlInit


async def test_unsupported_field_is_left_out_for_that_gpu_only(two_gpus, caplog):
    two_gpus.gpus[1].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    col = GpuCollector(1.0, 1.0, node="", initialized=False)
    with caplog.at_level(logging.INFO, logger="exporter.collectors.gpu"):
        v = _by_gpu(await col.collect())
        assert _by_gpu(await col.collect()) == v
    assert ("1", "gpu_power_watts") not in v
    assert v[("1", "gpu_temperature_celsius")] == 35 and v[("0", "gpu_power_watts")] == 312.5
    lines = [r for r in caplog.records if "power left out" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO  # once, and not a warning
    assert "Not Supported" in lines[0].getMessage()

    # The field comes back when the call works again, with one line saying so.
    del two_gpus.gpus[1].errors["nvmlDeviceGetPowerUsage"]
    with caplog.at_level(logging.INFO, logger="exporter.collectors.gpu"):
        assert _by_gpu(await col.collect())[("1", "gpu_power_watts")] == 61.0
    assert any("power readable again" in r.getMessage() for r in caplog.records)
    await col.close()


async def test_lost_gpu_and_failing_uuid_do_not_hide_the_others(two_gpus, caplog):
    two_gpus.gpus[0].errors["nvmlDeviceGetHandleByIndex"] = pynvml.NVML_ERROR_GPU_IS_LOST
    two_gpus.gpus[1].errors["nvmlDeviceGetUUID"] = pynvml.NVML_ERROR_UNKNOWN
    col = GpuCollector(1.0, 1.0, node="", initialized=False)
    with caplog.at_level(logging.WARNING, logger="exporter.collectors.gpu"):
        samples = await col.collect()
    assert {s.labels["gpu"] for s in samples} == {"1"}
    assert all("uuid" not in s.labels or s.labels["uuid"] == "" for s in samples)
    assert len(_base(samples)) == 5
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "gpu 0: handle left out: NVMLError_GpuIsLost" in messages
    assert "gpu 1: uuid left out" in messages
    await col.close()


def test_off_never_touches_nvml(monkeypatch):
    fake = FakeNvml([FakeGpu("GPU-x")]).install(monkeypatch)
    assert _build("off", 1.0, 1.0) == []
    assert fake.init_calls == 0


def test_auto_without_nvml_stays_off_with_one_info_line(monkeypatch, caplog):
    FakeNvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND).install(monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="exporter.collectors.gpu"):
        assert _build("auto", 1.0, 1.0) == []
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.INFO
    assert "NVML Shared Library Not Found" in caplog.records[0].getMessage()


async def test_on_without_nvml_is_an_error_until_nvml_loads(monkeypatch, caplog):
    fake = FakeNvml(
        [FakeGpu("GPU-z", temperature_c=50)], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    )
    fake.install(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="exporter.collectors.gpu"):
        collectors = _build("on", 1.0, 1.0)
    assert len(collectors) == 1
    assert "gpu: on but NVML is not available" in caplog.records[0].getMessage()
    assert "Driver Not Loaded" in caplog.records[0].getMessage()
    snapshot = Snapshot()
    runtime = Runtime(snapshot, collectors)
    up = {"collector": "gpu", "target": "local"}
    monkeypatch.delenv("NODE_NAME", raising=False)
    assert not await runtime.run_once(collectors[0])
    assert snapshot.value("exporter_collector_up", up) == 0

    fake.init_error = None  # the driver loaded (e.g. after the device plugin started)
    assert await runtime.run_once(collectors[0])
    assert snapshot.value("exporter_collector_up", up) == 1
    assert snapshot.value("gpu_temperature_celsius", {"gpu": "0", "uuid": "GPU-z"}) == 50
    await runtime.stop()
    assert fake.init_count == 0


async def test_hung_nvml_call_times_out_without_piling_up_threads(two_gpus):
    release = threading.Event()
    two_gpus.gpus[0].blocks["nvmlDeviceGetPowerUsage"] = release
    col = GpuCollector(1.0, 0.2, node="", initialized=False)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [col])
    try:
        assert not await runtime.run_once(col)  # timed out
        with pytest.raises(RuntimeError, match="previous NVML read has not returned"):
            await col.collect()
    finally:
        release.set()
    await wait_for_async(lambda: col._running.done())
    del two_gpus.gpus[0].blocks["nvmlDeviceGetPowerUsage"]
    assert await runtime.run_once(col)
    assert snapshot.value("gpu_power_watts", {"gpu": "0", "uuid": "GPU-0a"}) == 312.5
    await runtime.stop()


async def wait_for_async(predicate, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not met")


@pytest.mark.skipif(REAL_NVML_ERROR is not None, reason=f"no NVIDIA GPU here ({REAL_NVML_ERROR})")
async def test_real_nvml(caplog):
    """Runs only where a GPU and its driver exist: the collector against the real NVML."""
    with caplog.at_level(logging.INFO):
        collectors = _build("auto", 5.0, 5.0)
    assert len(collectors) == 1
    samples = await collectors[0].collect()
    await collectors[0].close()
    for s in samples:
        print(s.spec.name, dict(s.labels), s.value)  # quoted in the report
    v = _by_gpu(samples)
    assert ("0", "gpu_memory_total_bytes") in v
    for (_gpu, name), value in v.items():
        if name == "gpu_utilization_ratio":
            assert 0 <= value <= 1
        if name == "gpu_memory_used_bytes":
            assert 0 <= value <= v[(_gpu, "gpu_memory_total_bytes")]
        if name == "gpu_temperature_celsius":
            assert 0 < value < 120
        if name == "gpu_power_watts":
            assert 0 < value < 2000  # watts, not milliwatts
    assert all(s.labels["uuid"].startswith(("GPU-", "MIG-")) for s in samples)
    clocks = [s.value for s in samples if s.spec.name == "gpu_clock_hertz"]
    assert all(1e7 < hz < 1e10 for hz in clocks)  # Hz, not MHz


@pytest.mark.skipif(REAL_NVML_ERROR is None, reason="a real GPU is present")
@pytest.mark.parametrize("mode", ["auto", "on"])
def test_serve_without_gpu(mode):
    """The real process on this GPU-less machine: auto is silent but for one line; on is up 0."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    config = f"""
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: 0.5, timeout_seconds: 0.4}}
metrics_api: {{enabled: false}}
gpu: {mode}
"""

    def collected() -> str | None:
        text = scrape(url)
        gpu_up = sample_value(text, "exporter_collector_up", collector="gpu")
        done = "exporter_build_info" in text and (mode == "auto" or gpu_up == 0)
        return text if done else None

    with exporter_process(config) as exporter:
        text = wait_for(collected, what=f"gpu: {mode} started")
        log = exporter.extra["log"].read_text()
    assert "gpu_utilization_ratio" not in text
    if mode == "auto":
        assert sample_value(text, "exporter_collector_up", collector="gpu") is None
        assert log.count("gpu: auto and NVML is not available") == 1, log
        assert "ERROR" not in log
    else:
        assert log.count("gpu: on but NVML is not available") == 1, log


async def test_driver_going_away_fails_the_cycle_then_reinitialises(two_gpus):
    col = GpuCollector(1.0, 1.0, node="", initialized=False)
    assert len(_base(await col.collect())) == 10
    # As after a driver reload: NVML answers Uninitialized until nvmlInit runs again.
    two_gpus.init_count = 0
    with pytest.raises(RuntimeError, match="NVML cannot count GPUs: NVMLError_Uninitialized"):
        await col.collect()
    assert len(_base(await col.collect())) == 10
    await col.close()
    assert two_gpus.init_count == 0
