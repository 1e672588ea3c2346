"""One PNG per class: each metric against its target (top) and the replicas (bottom).

matplotlib is an optional dependency (the `simulate` extra): it is imported here, lazily,
with the Agg backend so no display is needed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from exporter.simulate.run import ClassRun


def plot_class(run: ClassRun, path: Path) -> None:
    """Write `path` (PNG). For an AverageValue metric the top panel shows the value per
    replica, which is what the HPA compares with the target."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font-cache chatter
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    times = [s.seconds for s in run.steps]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6), height_ratios=[3, 2])
    for m in run.spec.metrics:
        values = []
        for s in run.steps:
            v = s.observations.get(m.name)
            if v is not None and m.target_type == "AverageValue" and m.kind == "External":
                v = v / max(s.decision.current, 1)
            values.append(float("nan") if v is None else v)
        per = "per pod" if m.kind == "Pods" else "per replica"
        label = f"{m.name} {per}" if m.target_type == "AverageValue" else m.name
        line = top.step(times, values, where="post", label=label)[0]
        top.axhline(m.target, color=line.get_color(), linestyle="--", linewidth=1,
                    label=f"target {m.target:g} ({m.target_type})")  # fmt: skip
    top.set_ylabel("metric")
    top.set_title(f"{run.name}: HPA replay (pods assumed ready at once)")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)
    bottom.step(times, [s.decision.replicas for s in run.steps], where="post",
                color="tab:green", label="desired replicas")  # fmt: skip
    bottom.axhline(run.spec.max_replicas, color="tab:red", linestyle=":", label="max_replicas")
    bottom.axhline(run.spec.min_replicas, color="tab:gray", linestyle=":", label="min_replicas")
    bottom.set_ylim(0, run.spec.max_replicas + 1)
    bottom.set_ylabel("replicas")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right", fontsize="small")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
