"""Replay a trace through the HPA algorithm, one controller sync at a time, per class.

The model: every `sync_period` seconds (the controller's --horizontal-pod-autoscaler-sync-period,
15 s by default) from 0 to the trace's last row, each class's HPA reads the values in force and
`exporter.autoscaling.desired_replicas` decides. Pods are assumed ready at once: the current
replica count at a sync is the desired count of the sync before (starting at `min_replicas`),
and every pod counts as ready. A Pods metric's trace value is the per-pod average (every
current pod reporting it, as the status board's value for that signal). Real rollouts lag by the pods' start-up time, so a real HPA
reaches the same sizes later, never sooner.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.autoscaling import Decision, History, HPASpec, desired_replicas
from exporter.autoscaling.model import class_autoscaler
from exporter.config import ComponentClass, Config
from exporter.simulate.trace import Trace


@dataclass(frozen=True)
class Step:
    seconds: float
    observations: dict[str, float | None]
    decision: Decision


@dataclass(frozen=True)
class ClassRun:
    name: str
    spec: HPASpec
    steps: tuple[Step, ...]


def sync_times(end: float, sync_period: float) -> list[float]:
    """0, p, 2p, ... up to and including `end` (at least one sync)."""
    count = int(end // sync_period) + 1
    return [i * sync_period for i in range(count)]


def simulate_class(cls: ComponentClass, trace: Trace, sync_period: float) -> ClassRun:
    spec = class_autoscaler(cls).spec  # the one HPA model, as the generated HPA carries
    history = History()
    current = cls.min_replicas
    steps = []
    for t in sync_times(trace.end, sync_period):
        obs = {m.name: trace.value_at(cls.name, m.name, t) for m in spec.metrics}
        decision = desired_replicas(spec, current, obs, history, t)
        steps.append(Step(t, obs, decision))
        history, current = decision.history, decision.replicas
    return ClassRun(cls.name, spec, tuple(steps))


def simulate(config: Config, trace: Trace, sync_period: float = 15) -> list[ClassRun]:
    """Every class of the config, in config order."""
    if sync_period <= 0:
        raise ValueError("sync period must be > 0")
    return [simulate_class(cls, trace, sync_period) for cls in config.component_classes]


def fmt_seconds(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


@dataclass(frozen=True)
class Summary:
    name: str
    peak: int
    peak_at: float
    first_above: float | None  # first sync where a metric was above its target
    above_seconds: float
    duration: float
    scale_ups: int
    scale_downs: int
    final: int
    reasons: dict[str, int]

    def line(self) -> str:
        since = ""
        if self.first_above is not None and self.peak_at >= self.first_above:
            since = f", {fmt_seconds(self.peak_at - self.first_above)} s after the metric first exceeded its target"
        return (
            f"{self.name}: peak {self.peak} replicas at {fmt_seconds(self.peak_at)} s{since}; "
            f"above target {fmt_seconds(self.above_seconds)} s of {fmt_seconds(self.duration)} s; "
            f"{self.scale_ups + self.scale_downs} scale events ({self.scale_ups} up, "
            f"{self.scale_downs} down); ends at {self.final}"
        )


def summarize(run: ClassRun, sync_period: float) -> Summary:
    """Peak, time to peak, time above target and scale events of one class's replay."""
    peak = max(s.decision.replicas for s in run.steps)
    peak_at = next(s.seconds for s in run.steps if s.decision.replicas == peak)
    above = [s.seconds for s in run.steps if _above_target(s)]
    ups = sum(s.decision.replicas > s.decision.current for s in run.steps)
    downs = sum(s.decision.replicas < s.decision.current for s in run.steps)
    reasons: dict[str, int] = {}
    for s in run.steps:
        reasons[s.decision.reason] = reasons.get(s.decision.reason, 0) + 1
    return Summary(
        run.name, peak, peak_at, above[0] if above else None, len(above) * sync_period,
        run.steps[-1].seconds + sync_period, ups, downs, run.steps[-1].decision.replicas, reasons,
    )  # fmt: skip


def _above_target(step: Step) -> bool:
    return any(p.usage_ratio is not None and p.usage_ratio > 1.0 for p in step.decision.metrics)
