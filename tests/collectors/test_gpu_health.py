"""GPU health fields, per-process reads and XID events against the NVML double: base units,
each field degrading alone on NVML_ERROR_NOT_SUPPORTED, XID counted by code."""

from __future__ import annotations

import logging

import pynvml
import pytest

from exporter.collectors.gpu import GpuCollector
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.nvml_fake import FakeGpu, FakeNvml, FakeProcess

LOGGER = "exporter.collectors.gpu"
NS = pynvml.NVML_ERROR_NOT_SUPPORTED


@pytest.fixture
def nvml(monkeypatch) -> FakeNvml:
    healthy = FakeGpu(
        "GPU-0a", clocks_mhz={pynvml.NVML_CLOCK_SM: 1410, pynvml.NVML_CLOCK_MEM: 1593}
    )
    worn = FakeGpu(
        "GPU-1b",
        ecc={(0, 0): 12, (0, 1): 3400, (1, 0): 0, (1, 1): 2},  # (type, scope) -> count
        retired_pages={0: [0x1000, 0x2000], 1: [0x3000]},
        retired_pages_pending=1,
        remapped_rows=(5, 1, 0, 1),
        clocks_event_reasons=pynvml.nvmlClocksEventReasonSwPowerCap
        | pynvml.nvmlClocksEventReasonHwThermalSlowdown,
        pcie_kb_per_s={
            pynvml.NVML_PCIE_UTIL_TX_BYTES: 500,
            pynvml.NVML_PCIE_UTIL_RX_BYTES: 250_000,
        },
    )
    return FakeNvml([healthy, worn]).install(monkeypatch)


def values(samples, name: str, **match: str) -> dict[tuple, float]:
    """(gpu, the series' extra label values...) -> value, for `name` series matching `match`."""
    base = {"gpu", "uuid", "node"}
    out = {}
    for s in samples:
        if s.spec.name != name or any(s.labels.get(k) != v for k, v in match.items()):
            continue
        extra = tuple(v for k, v in sorted(s.labels.items()) if k not in base and v)
        out[(s.labels["gpu"], *extra)] = s.value
    return out


async def test_health_fields_in_base_units(nvml):
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    samples = await col.collect()
    assert values(samples, "gpu_ecc_errors_total", gpu="1") == {
        ("1", "volatile", "corrected"): 12,
        ("1", "aggregate", "corrected"): 3400,
        ("1", "volatile", "uncorrected"): 0,
        ("1", "aggregate", "uncorrected"): 2,
    }
    assert values(samples, "gpu_retired_pages", gpu="1") == {
        ("1", "single_bit_ecc"): 2, ("1", "double_bit_ecc"): 1,
    }  # fmt: skip
    assert values(samples, "gpu_retired_pages_pending") == {("0",): 0, ("1",): 1}
    assert values(samples, "gpu_remapped_rows", gpu="1") == {
        ("1", "correctable"): 5, ("1", "uncorrectable"): 1,
    }  # fmt: skip
    assert values(samples, "gpu_row_remap_pending", gpu="1") == {("1",): 0}
    assert values(samples, "gpu_row_remap_failed", gpu="1") == {("1",): 1}
    throttle = values(samples, "gpu_clock_throttle_active", gpu="1")
    assert {k[1] for k, v in throttle.items() if v == 1} == {"sw_power_cap", "hw_thermal_slowdown"}
    assert len(throttle) == 9  # every reason NVML defines, 0 when it does not hold
    assert not any(values(samples, "gpu_clock_throttle_active", gpu="0").values())
    assert values(samples, "gpu_clock_hertz", gpu="0") == {
        ("0", "sm"): 1410e6,
        ("0", "memory"): 1593e6,
    }
    assert values(samples, "gpu_pcie_throughput_bytes_per_second", gpu="1") == {
        ("1", "tx"): 500 * 1024, ("1", "rx"): 250_000 * 1024,
    }  # fmt: skip
    await col.close()


@pytest.mark.parametrize(
    ("call", "field", "gone"),
    [
        ("nvmlDeviceGetTotalEccErrors", "ecc", {"gpu_ecc_errors_total"}),
        ("nvmlDeviceGetRetiredPages", "retired_pages", {"gpu_retired_pages", "gpu_retired_pages_pending"}),
        ("nvmlDeviceGetRemappedRows", "remapped_rows",
         {"gpu_remapped_rows", "gpu_row_remap_pending", "gpu_row_remap_failed"}),
        ("nvmlDeviceGetCurrentClocksEventReasons", "throttle_reasons", {"gpu_clock_throttle_active"}),
        ("nvmlDeviceGetClockInfo", "clocks", {"gpu_clock_hertz"}),
        ("nvmlDeviceGetPcieThroughput", "pcie", {"gpu_pcie_throughput_bytes_per_second"}),
        ("nvmlDeviceGetComputeRunningProcesses", "processes", {"gpu_process_memory_used_bytes"}),
        ("nvmlDeviceGetProcessUtilization", "process_utilization", {"gpu_process_utilization_ratio"}),
    ],
)  # fmt: skip
async def test_each_field_degrades_alone(nvml, caplog, call, field, gone):
    nvml.gpus[0].processes = [FakeProcess(11, used_memory=1024, sm_util=30)]
    nvml.gpus[1].processes = [FakeProcess(12, used_memory=2048, sm_util=10)]
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    col.clock = iter(range(0, 10_000, 60)).__next__  # a minute per read: slow fields too
    before = {(s.spec.name, s.labels["gpu"]) for s in await col.collect()}
    nvml.gpus[1].errors[call] = NS
    with caplog.at_level(logging.INFO, logger=LOGGER):
        after = {(s.spec.name, s.labels["gpu"]) for s in await col.collect()}
        assert {(s.spec.name, s.labels["gpu"]) for s in await col.collect()} == after
    assert before - after == {(name, "1") for name in gone}  # that field, that GPU, nothing else
    lines = [r for r in caplog.records if r.getMessage().startswith(f"gpu 1: {field} left out")]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO  # not supported is no fault
    await col.close()


async def test_pcie_throughput_is_read_once_per_period_and_repeated_between(nvml, monkeypatch):
    """nvmlDeviceGetPcieThroughput samples for 20 ms per counter: read every 10 s, not every
    cycle; the series stay on /metrics with the last reading meanwhile."""
    calls = []
    real = pynvml.nvmlDeviceGetPcieThroughput

    def counted(handle, counter):
        calls.append(counter)
        return real(handle, counter)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetPcieThroughput", counted)
    now = [5.0]  # small: no dependency on the machine's uptime
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    col.clock = lambda: now[0]
    pcie = "gpu_pcie_throughput_bytes_per_second"
    first = values(await col.collect(), pcie)
    assert len(calls) == 4  # tx and rx of each of the two GPUs
    nvml.gpus[1].pcie_kb_per_s[pynvml.NVML_PCIE_UTIL_TX_BYTES] = 900
    for step in (1.0, 9.9):  # within the period: repeated, no NVML call
        now[0] = 5.0 + step
        assert values(await col.collect(), pcie) == first
    assert len(calls) == 4
    now[0] = 15.0  # the period has passed: read again
    assert values(await col.collect(), pcie, gpu="1")[("1", "tx")] == 900 * 1024
    assert len(calls) == 8
    await col.close()


async def test_throttle_reasons_fall_back_to_the_pre_535_call(nvml):
    nvml.gpus[1].errors["nvmlDeviceGetCurrentClocksEventReasons"] = (
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
    )
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    throttle = values(await col.collect(), "gpu_clock_throttle_active", gpu="1")
    assert throttle[("1", "sw_power_cap")] == 1 and throttle[("1", "gpu_idle")] == 0
    await col.close()


async def test_process_utilization_without_new_samples_reads_zero(nvml):
    nvml.gpus[0].processes = [FakeProcess(11, used_memory=3 * 1024**3, sm_util=None)]
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    samples = await col.collect()  # NVML answers NOT_FOUND: no sample since the last read
    assert values(samples, "gpu_process_utilization_ratio", gpu="0") == {("0",): 0.0}
    assert values(samples, "gpu_process_memory_used_bytes", gpu="0") == {("0",): 3 * 1024**3}
    nvml.gpus[0].processes[0].sm_util = 64
    assert values(await col.collect(), "gpu_process_utilization_ratio", gpu="0") == {("0",): 0.64}
    await col.close()


async def test_xid_errors_are_counted_by_code_from_nvml_events(nvml, caplog):
    nvml.gpus[1].supported_events = 0  # this board reports no XID events
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [col])
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert await runtime.run_once(col)  # registers GPU 0 for XID events
        assert snapshot.series("gpu_xid_errors_total") == []
        nvml.xid(0, 79)  # fallen off the bus
        nvml.xid(0, 79)
        nvml.xid(0, 13)  # graphics engine exception
        assert await runtime.run_once(col)
        nvml.xid(0, 79)
        assert await runtime.run_once(col)
    xid = {dict(s.labels)["xid"]: s.value for s in snapshot.series("gpu_xid_errors_total")}
    assert xid == {"79": 3, "13": 1}
    assert all(dict(s.labels)["uuid"] == "GPU-0a" for s in snapshot.series("gpu_xid_errors_total"))
    assert nvml.pending_events == []  # drained on the collector's own thread
    lines = [r for r in caplog.records if "xid_events left out" in r.getMessage()]
    assert len(lines) == 1 and lines[0].getMessage().startswith("gpu 1:")
    # The other GPU's health is untouched by its missing events.
    assert (
        snapshot.value("gpu_retired_pages_pending", {"gpu": "1", "uuid": "GPU-1b", "node": "n1"})
        == 1
    )
    await runtime.stop()
    assert all(s.freed for s in nvml.event_sets)  # the event set dies with the NVML session


async def test_xid_counts_survive_a_driver_reload(nvml):
    col = GpuCollector(1.0, 1.0, node="n1", initialized=False)
    await col.collect()
    nvml.xid(0, 48)  # double-bit ECC error
    await col.collect()
    nvml.init_count = 0  # the driver went away: the next cycle fails, the one after re-inits
    with pytest.raises(RuntimeError):
        await col.collect()
    await col.collect()  # re-registers on a new event set
    nvml.xid(0, 48)
    samples = await col.collect()
    assert values(samples, "gpu_xid_errors_total") == {("0", "48"): 2}
    assert len(nvml.event_sets) == 2
    await col.close()
