"""`exporter simulate`: replay a metric trace through the Kubernetes HPA algorithm.

Writes `OUT/replicas.csv` (one row per sync per class), `OUT/<class>.png` and prints one
summary line per class. A bad trace raises `TraceError` (exit 2 in the CLI).
"""

from __future__ import annotations

import csv
from pathlib import Path

from exporter.config import Config
from exporter.simulate.run import fmt_seconds, simulate, summarize
from exporter.simulate.trace import TraceError, load_trace

__all__ = ["TraceError", "run_simulation"]


def run_simulation(config: Config, trace_path: str, out: str, sync_period: float) -> list[str]:
    """Replay, write the CSV and plots under `out`, and return the summary lines."""
    from exporter.autoscaling.from_config import metric_specs
    from exporter.simulate.plot import plot_class

    metrics = {c.name: {m.name for m in metric_specs(c)} for c in config.component_classes}
    trace = load_trace(trace_path, metrics)
    runs = simulate(config, trace, sync_period)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "replicas.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["seconds", "component_class", "desired_replicas", "reason"])
        for step_index in range(len(runs[0].steps) if runs else 0):
            for run in runs:
                s = run.steps[step_index]
                w.writerow(
                    [fmt_seconds(s.seconds), run.name, s.decision.replicas, s.decision.reason]
                )
    for run in runs:
        plot_class(run, out_dir / f"{run.name}.png")
    return [summarize(run, sync_period).line() for run in runs]
