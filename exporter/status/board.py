"""The status board: per component class, what the HPA reads and what it would decide.

Every `sync_seconds` (the queue collection interval: values change no faster) while someone
reads the page, and every HPA controller period (15 s) while nobody does, the board reads each
class's scaling signals through the metrics-API provider (`signals.read_signal`) and runs one
sync of the Kubernetes HPA algorithm (`exporter.autoscaling.desired_replicas`) with a
`History` kept per class, so stabilisation windows and rate policies act as the controller's
do. The current replica count is the live HPA's when the HPA collector reports one (its
changes are the scale events the rate policies count), else the board's own last decision
(pods assumed ready at once, as `exporter simulate` does).

What is evaluated is the class's HPA model (`exporter.autoscaling.model.class_autoscaler`,
the object the generated HPA serialises): its External metrics (summed series) and its Pods
metrics (per-pod values from `custom.metrics.k8s.io`, averaged as the controller's replica
calculator does, missing pods included); CPU and memory Utilization targets come from
metrics-server and are listed as such, not computed. The provider is the process's one
(`exporter.service.serve` builds it), shared with the metrics API and the KEDA scaler, so
the board adds no queries and no fallback flags of its own. Nothing here raises into a
request: a failed read is a signal without a value and the reason.

Cost: a sync is linear in classes (each class's read goes through the snapshot's label
index) and gives the loop back every `SLICE_SECONDS`; the page's rows (and their JSON) are
built only while someone reads the page, so a sync nobody looks at keeps just the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.autoscaling import Decision, History, HPASpec, desired_replicas
from exporter.autoscaling.history import store_scale_event
from exporter.autoscaling.model import ClassAutoscaler, class_autoscaler
from exporter.config import ComponentClass, Config
from exporter.metrics_api.providers import RoutingProvider, build_provider
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from exporter.status import targets as target_rows
from exporter.status.describe import behavior_rows, decision_row, signal_row
from exporter.status.signals import Reading, read_signal
from exporter.status.sparkline import Ring

log = logging.getLogger(__name__)


# The metric kinds the exporter serves (Resource metrics come from metrics-server).
EVALUATED = ("External", "Pods")

# A sync step gives the loop back after this long (the HPA's request and the scrape wait at
# most about this); the document is "watched" for this long after a read.
SLICE_SECONDS = 0.002
WATCH_SECONDS = 60.0
# kube-controller-manager's --horizontal-pod-autoscaler-sync-period default (and `exporter
# simulate --sync-period`): how often the board syncs while nobody looks.
HPA_SYNC_SECONDS = 15.0


@dataclass
class _Sync:
    """What one sync of a class saw and decided: enough to build its row later."""

    live: list[dict[str, Any]]
    readings: dict[str, Reading] = field(default_factory=dict)
    decision: Decision | None = None
    current: int = 0
    source: str = ""


@dataclass
class ClassState:
    cls: ComponentClass
    model: ClassAutoscaler
    spec: HPASpec | None  # None: no External/Pods metric, nothing the exporter can evaluate
    others: list[str]  # metrics the HPA also has, served by metrics-server
    history: History = field(default_factory=History)
    simulated: int = 0
    last_live: int | None = None  # the live HPA's current replicas at the last sync
    rings: dict[str, Ring] = field(default_factory=dict)
    replicas: Ring = field(default_factory=Ring)
    row: dict[str, Any] = field(default_factory=dict)  # {}: not built since the last sync
    row_json: str = ""
    last: _Sync | None = None
    namespace: str = ""


def _class_state(cls: ComponentClass) -> ClassState:
    model = class_autoscaler(cls)
    full = model.spec
    served = tuple(m for m in full.metrics if m.kind in EVALUATED)
    others = [m.describe() for m in full.metrics if m.kind not in EVALUATED]
    spec = replace(full, metrics=served) if served else None
    state = ClassState(cls, model, spec, others, simulated=cls.min_replicas)
    state.rings = {m.name: Ring() for m in served}
    return state


class StatusBoard:
    """Computes the status document; `start()` runs the periodic sync on the current loop."""

    def __init__(
        self,
        config: Config,
        snapshot: Snapshot,
        runtime: Runtime,
        provider: RoutingProvider | None = None,
        clock: Callable[[], float] = time.time,
        sync_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        self.runtime = runtime
        # The process's provider when given (the one the metrics API and the KEDA scaler
        # use); else one of its own, closed in stop(). None when the API is off, so a
        # disabled API leaves no fallback flags in the snapshot.
        self._owns_provider = provider is None
        if provider is None and config.metrics_api.enabled:
            provider = build_provider(config, snapshot, runtime.ready.is_set, clock)
        self.provider = provider
        self.clock = clock
        self.sync_seconds = sync_seconds or config.collection.queues.interval_seconds
        self.idle_sync_seconds = max(self.sync_seconds, HPA_SYNC_SECONDS)
        self.classes = [_class_state(c) for c in config.component_classes]
        for state in self.classes:
            state.namespace = config.class_namespace(state.cls)
        self.synced_at: float | None = None
        self.looked_at: float | None = None  # when the document was last read
        self._task: asyncio.Task[None] | None = None

    # --- the periodic sync ------------------------------------------------------------------
    async def sync(self) -> None:
        """One HPA sync for every class, in slices: the loop gets control back at least every
        `SLICE_SECONDS`, so a thousand classes never hold a scrape or an HPA's request."""
        now = self.clock()
        watched = self.watched(now)
        started = time.perf_counter()
        for state in self.classes:
            try:
                await self._sync_class(state, now, watched)
            except Exception:  # one class's bug must not blank the others
                log.exception("status: evaluating class %s failed", state.cls.name)
            if time.perf_counter() - started > SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.perf_counter()
        self.synced_at = now

    def watched(self, now: float) -> bool:
        """Whether someone read the document lately: only then does a sync build the rows
        (otherwise it keeps what the controller history needs, and a look builds them)."""
        return self.looked_at is not None and now - self.looked_at < WATCH_SECONDS

    async def _sync_class(self, state: ClassState, now: float, watched: bool = True) -> None:
        cls = state.cls
        live = target_rows.live_hpas(self.snapshot, cls.name, now)
        if state.spec is None:
            state.last = _Sync(live)
            self._set_row(state, watched)
            return
        current, source, is_live = self._current(state, live)
        readings: dict[str, Reading] = {}
        for m in state.spec.metrics:
            readings[m.name] = await read_signal(
                self.provider, self.config, state.model, m, self.clock, state.namespace
            )
            state.rings[m.name].add(now, readings[m.name].value)
        observations = {k: r.observation(current, is_live) for k, r in readings.items()}
        history = state.history
        if is_live and state.last_live is not None and current != state.last_live:
            # the live HPA rescaled: that is the scale event its rate policies count
            history = store_scale_event(history, state.spec.behavior, state.last_live, current, now)
        decision = desired_replicas(state.spec, current, observations, history, now)
        if is_live:  # no event for a rescale the board only proposed; the live count says
            history = replace(decision.history, scale_up_events=history.scale_up_events,
                              scale_down_events=history.scale_down_events)  # fmt: skip
        else:
            history = decision.history
        state.history, state.last_live = history, current if is_live else None
        state.simulated = decision.replicas
        state.replicas.add(now, float(decision.replicas))
        state.last = _Sync(live, readings, decision, current, source)
        self._set_row(state, watched)

    def _set_row(self, state: ClassState, build: bool) -> None:
        """The row and its JSON text (so `/status.json` joins texts instead of encoding a
        thousand rows in one step), or neither until someone looks."""
        state.row = self._row(state) if build else {}
        state.row_json = json.dumps(state.row) if build else ""

    def _row(self, state: ClassState) -> dict[str, Any]:
        """The class's row from its last sync (built when someone looks, not every sync)."""
        cls, last = state.cls, state.last
        assert last is not None
        workload = f"{cls.workload.kind}/{cls.workload.name}"
        row: dict[str, Any] = {
            "name": cls.name,
            "workload": workload,
            "min_replicas": cls.min_replicas,
            "max_replicas": cls.max_replicas,
            "other_metrics": state.others,
            "behavior": behavior_rows(cls),
            "live": last.live,
            "live_note": target_rows.kube_note(self.runtime, workload, bool(last.live)),
        }
        if state.namespace != self.config.namespace:
            row["namespace"] = state.namespace
        if state.spec is None or last.decision is None:
            row.update(signals=[], decision=None, tolerance=None)
            return row
        decision = last.decision
        row["tolerance"] = state.spec.tolerance
        row["signals"] = [
            signal_row(
                m,
                last.readings[m.name],
                _proposal(decision, m.name),
                state.spec.tolerance,
                last.current,
                state.rings[m.name].values(),
            )  # fmt: skip
            for m in state.spec.metrics
        ]
        row["decision"] = decision_row(decision, last.source, state.replicas.values())
        return row

    def _current(self, state: ClassState, live: list[dict[str, Any]]) -> tuple[int, str, bool]:
        """The live HPA's current replicas when there is one, else the board's last answer."""
        counts = [h["current_replicas"] for h in live if "current_replicas" in h]
        if counts:
            return counts[0], f"live HPA {live[0]['hpa']}", True
        note = "simulated: the last desired count, pods assumed ready at once"
        return state.simulated, note, False

    async def _loop(self) -> None:
        while True:
            await self.sync()
            # Nobody looking: a sync per HPA controller period is all the history needs
            # (1000 classes every second would cost more than collecting their queues).
            while True:
                await asyncio.sleep(self.sync_seconds)
                now = self.clock()
                if self.watched(now) or now - (self.synced_at or 0.0) >= self.idle_sync_seconds:
                    break

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="status-board")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.provider is not None and self._owns_provider:
            await self.provider.aclose()

    # --- the document -----------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        """The `/status.json` document: the last sync's classes, targets as of now."""
        now = self.clock()
        self.looked_at = now
        rows = target_rows.targets(self.runtime, now)
        return {
            "environment": self.config.environment,
            "namespace": self.config.namespace,
            "generated_at": now,
            "synced_age_seconds": None
            if self.synced_at is None
            else round(now - self.synced_at, 3),
            "sync_seconds": self.sync_seconds,
            "ready": self.runtime.ready.is_set(),
            "classes": [self._document_row(s) for s in self.classes],
            "targets": rows,
            "collectors": target_rows.collectors_health(rows),
        }

    async def prepare(self) -> None:
        """Build the rows the last sync left unbuilt, giving the loop back between slices
        (a first look at a thousand classes must not hold the HPA's requests either)."""
        self.looked_at = self.clock()
        started = time.perf_counter()
        for state in self.classes:
            self._document_row(state)
            if time.perf_counter() - started > SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.perf_counter()

    def _document_row(self, state: ClassState) -> dict[str, Any]:
        if state.last is None:
            return {"name": state.cls.name, "pending": True}
        if not state.row:  # synced while nobody looked: built now, once per sync
            self._set_row(state, True)
        return state.row

    def document_json(self) -> bytes:
        """`document()` as JSON, the class rows spliced in from their cached texts."""
        doc = self.document()
        rows = [
            s.row_json or json.dumps(row)
            for s, row in zip(self.classes, doc.pop("classes"), strict=True)
        ]
        head = json.dumps(doc)
        return f'{head[:-1]}, "classes": [{", ".join(rows)}]}}'.encode()


def _proposal(decision: Decision, metric: str):
    return next((p for p in decision.metrics if p.spec.name == metric), None)
