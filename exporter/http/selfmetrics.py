"""The exporter's own serving health into the snapshot, once a second: `process_*` (the
standard names), `exporter_event_loop_lag_seconds`, and each listener's connection counters.

Linux /proc is read for memory, fds and start time; elsewhere those series are left out
rather than reported wrong. Nothing here can raise into the loop: a failed read skips a tick.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Sequence

from exporter import catalog
from exporter.snapshot import Sample, Snapshot

from .memory import release_after_burst
from .server import HttpServer

OWNER = "serving"
TICK = 1.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def process_samples(boot_time: float | None) -> list[Sample]:
    """process_* for this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = [Sample(catalog.PROCESS_CPU_SECONDS, {}, usage.ru_utime + usage.ru_stime)]
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out.append(Sample(catalog.PROCESS_MAX_FDS, {}, float(soft)))
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        # after "pid (comm)": state=0 ... starttime=19, vsize=20, rss=21 (proc(5), minus 3)
        out.append(Sample(catalog.PROCESS_VIRTUAL_MEMORY, {}, float(fields[20])))
        out.append(Sample(catalog.PROCESS_RESIDENT_MEMORY, {}, float(fields[21]) * _PAGE))
        if boot_time is not None:
            start = boot_time + float(fields[19]) / _HZ
            out.append(Sample(catalog.PROCESS_START_TIME, {}, start))
        out.append(Sample(catalog.PROCESS_OPEN_FDS, {}, float(len(os.listdir("/proc/self/fd")))))
    except (OSError, IndexError, ValueError):
        pass
    return out


def listener_samples(servers: Sequence[HttpServer]) -> list[Sample]:
    out = []
    for server in servers:
        stats = server.stats
        out.append(
            Sample(catalog.EXPORTER_HTTP_CONNECTIONS, {"listener": stats.name}, stats.connections)
        )
        for reason, n in stats.rejected.items():
            labels = {"listener": stats.name, "reason": reason}
            out.append(Sample(catalog.EXPORTER_HTTP_CONNECTIONS_REJECTED, labels, float(n)))
    return out


# After a burst of connections ends, glibc keeps the freed TLS and buffer memory in its heap
# (fragmented, so it is never returned on its own); trimming hands it back to the kernel.
TRIM_AFTER_DROP = 64  # connections closed since the peak before a trim is worth its few ms
TRIM_EVERY = 60  # ticks: freed-but-kept heap pages from steady work go back too (soak)


class SelfMetrics:
    """Runs `run()` as a task next to the listeners; `lag` is the latest loop lag."""

    def __init__(self, snapshot: Snapshot, servers: Sequence[HttpServer]) -> None:
        self.snapshot = snapshot
        self.servers = list(servers)
        self.lag = 0.0
        self._boot = _boot_time()
        self._peak = 0
        self._ticks = 0

    def _trim_after_burst(self) -> None:
        now = sum(s.stats.connections for s in self.servers)
        self._peak = max(self._peak, sum(s.stats.peak for s in self.servers))
        for s in self.servers:
            s.stats.peak = s.stats.connections
        self._ticks += 1
        if self._peak - now >= TRIM_AFTER_DROP or self._ticks % TRIM_EVERY == 0:
            release_after_burst()
            self._peak = now

    def refresh(self) -> None:
        self._trim_after_burst()
        samples = process_samples(self._boot)
        samples.append(Sample(catalog.EXPORTER_EVENT_LOOP_LAG, {}, self.lag))
        self.snapshot.replace(OWNER, samples, time.time())
        self.refresh_listeners()

    def refresh_listeners(self) -> None:
        """The connection counters only: cheap enough for every scrape, so a scrape sees its
        own connection."""
        self.snapshot.replace(OWNER + "/listeners", listener_samples(self.servers), time.time())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.refresh()
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            self.lag = max(0.0, loop.time() - due)
