"""The collector runtime: each collector on its own interval, with a hard timeout.

A run that succeeds replaces its owner's series in the snapshot. A run that fails or times
out leaves the old values in place (stale) and writes only what the collector says a failure
looks like (`pg_up 0`, say). Warnings are logged once per transition, not once per cycle.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from exporter import catalog
from exporter.config.secrets import redact_url
from exporter.snapshot import Sample, Snapshot

log = logging.getLogger(__name__)


class Collector(abc.ABC):
    """One source (one target) measured on a schedule.

    Subclasses set `name` (the collector kind, e.g. "postgres") and `target`, and implement
    `collect`. `collect` raises on failure; its message must not carry secrets.
    """

    name: str = "collector"
    target: str = ""

    def __init__(self, interval: float, timeout: float) -> None:
        self.interval = interval
        self.timeout = timeout

    @property
    def owner(self) -> str:
        return f"{self.name}/{self.target}"

    @abc.abstractmethod
    async def collect(self) -> Sequence[Sample]:
        """Measure once and return every series this target has now."""

    def failure_samples(self) -> Sequence[Sample]:
        """What to write when a run fails (e.g. `*_up 0`); other series stay stale."""
        return ()

    async def close(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release connections; called once at shutdown."""


@dataclass
class CollectorState:
    """What the status page shows per collector: the last outcome, error text and times.

    `last_error` is the collector's message as raised; readers redact it before showing it.
    """

    ok: bool | None = None  # None: no run finished yet
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_duration: float | None = None


class Runtime:
    """Runs collectors into one snapshot and tracks readiness."""

    def __init__(self, snapshot: Snapshot, collectors: Sequence[Collector]) -> None:
        self.snapshot = snapshot
        self.collectors = list(collectors)
        self._tasks: list[asyncio.Task[None]] = []
        self._first_done: set[str] = set()
        self.ready = asyncio.Event()
        self.states: dict[str, CollectorState] = {c.owner: CollectorState() for c in collectors}
        self._stopping = False
        if not self.collectors:
            self.ready.set()

    async def run_once(self, collector: Collector) -> bool:
        """One collection with the collector's timeout; True when it succeeded."""
        labels = {"collector": collector.name, "target": collector.target}
        started = time.perf_counter()
        error: str | None = None
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races a finished collect(), and stop() would then wait forever.
            async with asyncio.timeout(collector.timeout):
                samples = await collector.collect()
        except TimeoutError:
            error = f"timed out after {collector.timeout:g}s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a collector must never take the process down
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            error = redact_url(error)  # a driver may quote the DSN it was given
        duration = time.perf_counter() - started
        now = time.time()
        own = f"runtime/{collector.owner}"
        self_metrics = [
            Sample(catalog.EXPORTER_COLLECTOR_UP, labels, 0.0 if error else 1.0),
            Sample(catalog.EXPORTER_COLLECTOR_DURATION, labels, duration),
        ]
        if error is None:
            await self.snapshot.areplace(collector.owner, samples, now)
            self_metrics.append(Sample(catalog.EXPORTER_COLLECTOR_LAST_SUCCESS, labels, now))
        else:
            self.snapshot.update(collector.owner, collector.failure_samples(), now)
            errors = self.snapshot.value(catalog.EXPORTER_COLLECTOR_ERRORS.name, labels) or 0.0
            self_metrics.append(Sample(catalog.EXPORTER_COLLECTOR_ERRORS, labels, errors + 1))
        if self.snapshot.value(catalog.EXPORTER_COLLECTOR_ERRORS.name, labels) is None:
            self_metrics.append(Sample(catalog.EXPORTER_COLLECTOR_ERRORS, labels, 0.0))
        self.snapshot.update(own, self_metrics, now)
        self._log_transition(collector, error)  # before _record: it reads the last outcome
        self._record(collector.owner, error, now, duration)
        return error is None

    def _record(self, owner: str, error: str | None, now: float, duration: float) -> None:
        state = self.states.setdefault(owner, CollectorState())
        state.ok, state.last_duration = error is None, duration
        if error is None:
            state.last_success = now
        else:
            state.last_error, state.last_error_at = error, now

    def _log_transition(self, collector: Collector, error: str | None) -> None:
        state = self.states.get(collector.owner)
        was = state.ok if state else None
        now_ok = error is None
        if now_ok and was is False:
            log.info("%s target %r recovered", collector.name, collector.target)
        elif not now_ok and was is not False:
            log.warning("%s target %r is failing: %s", collector.name, collector.target, error)

    async def _loop(self, collector: Collector) -> None:
        loop = asyncio.get_running_loop()
        next_run = loop.time()
        while not self._stopping:
            await self.run_once(collector)
            if collector.owner not in self._first_done:
                self._first_done.add(collector.owner)
                if len(self._first_done) == len(self.collectors):
                    self.ready.set()
            # Fixed-rate schedule; a run that overran its slot starts the next at once.
            next_run = max(next_run + collector.interval, loop.time())
            await asyncio.sleep(next_run - loop.time())

    def start(self) -> None:
        for collector in self.collectors:
            self._tasks.append(asyncio.create_task(self._loop(collector), name=collector.owner))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for collector in self.collectors:
            try:
                await asyncio.wait_for(collector.close(), 2.0)
            except Exception as exc:
                log.debug("closing %s failed: %s", collector.owner, redact_url(str(exc)))
