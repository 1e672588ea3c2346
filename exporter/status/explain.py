"""`exporter explain`: a running exporter's `/status.json`, one sentence per class.

    gpu: queue_depth 40 (fresh 0.8 s, snapshot) / target 2 -> 20 replicas; current 3;
    scale-up policy Pods 4 pods per 30s allows 7; min 1 max 8 -> desired 7 (ScaleUpLimit)

A signal without a value says why the API would refuse it (the provider's reason: stale,
source failing, first collection pending), and a fallback value says what failed. The same
sentences head each class on the status page.
"""

from __future__ import annotations

from typing import Any

DEFAULT_URL = "http://127.0.0.1:9464"


def _g(v: float) -> str:
    return f"{v:.4g}"


def _replicas(n: int) -> str:
    return f"{n} replica" if n == 1 else f"{n} replicas"


def signal_phrase(s: dict[str, Any]) -> str:
    """One signal: its value and freshness (or why there is none) against its target."""
    name, source = s["metric"], s["source"]
    pods = s.get("kind") == "Pods"
    if s["value"] is None:
        return f"{name} unavailable ({source}: {s['unavailable']})"
    # a Pods signal is a per-pod average over the pods that report it
    value = f"{_g(s['value'])} per pod over {s['series']} pods" if pods else _g(s["value"])
    if s["fallback"]:
        head = f"{name} {value} (FALLBACK value: {source} failed: {s['fallback_reason']})"
    else:
        head = f"{name} {value} (fresh {s['age_seconds']:.1f} s, {source})"
    target = f" / target {_g(s['target'])}"
    if s["proposal"] is None:
        return f"{head}{target} -> no proposal: {s['error']}"
    if s["within_tolerance"]:
        lo, hi = s["tolerance_band"]
        unit = "per pod" if pods else "per replica"
        return (
            f"{head}{target} = {_g(s['per_replica'])} {unit} at {s['current']}, within the "
            f"tolerance band {_g(lo)}..{_g(hi)} -> stays {s['proposal']}"
        )
    return f"{head}{target} -> {_replicas(s['proposal'])}"


def sentence(row: dict[str, Any]) -> str:
    """The class's decision as one sentence (see the module docstring)."""
    name = row["name"]
    if row.get("pending"):
        return f"{name}: not evaluated yet (the first sync has not run)"
    if row.get("decision") is None:
        others = ", ".join(row.get("other_metrics") or []) or "nothing"
        return (
            f"{name}: scales on {others} (metrics-server); the exporter serves none of its metrics"
        )
    d = row["decision"]
    parts = [signal_phrase(s) for s in row["signals"]]
    if len(row["signals"]) > 1 and d["metric"]:
        parts.append(f"largest proposal {d['proposal']} from {d['metric']}")
    parts.append(f"current {d['current']}")
    if d["proposal"] is None:
        parts.append(f"holds at {d['current']} ({d['reason']}: the HPA does not scale without it)")
        return f"{name}: " + "; ".join(parts)
    if d["limited_by"] and not d["limited_by"].startswith(("max_replicas", "min_replicas")):
        parts.append(d["limited_by"])  # a min/max bound shows in the clause below
    parts.append(
        f"min {row['min_replicas']} max {row['max_replicas']} -> desired {d['desired']} "
        f"({d['reason']})"
    )
    return f"{name}: " + "; ".join(parts)


def live_phrase(row: dict[str, Any]) -> str:
    if not row.get("live"):
        return row.get("live_note", "")
    return "; ".join(
        f"live HPA {h['hpa']}: current {h.get('current_replicas')}, desired "
        f"{h.get('desired_replicas')}, AbleToScale {h.get('able_to_scale')}, "
        f"ScalingActive {h.get('scaling_active')}"
        for h in row["live"]
    )


def explain_text(doc: dict[str, Any], only: str | None = None) -> str:
    """The whole report; `only` keeps one class (KeyError when there is none by that name)."""
    rows = doc["classes"]
    if only is not None:
        rows = [r for r in rows if r["name"] == only]
        if not rows:
            raise KeyError(only)
    blocks = []
    for row in rows:
        lines = [sentence(row)]
        if row.get("other_metrics"):
            lines.append("  also on " + ", ".join(row["other_metrics"]) + " (metrics-server)")
        live = live_phrase(row)
        if live:
            lines.append(f"  {live}")
        blocks.append("\n".join(lines))
    down = [t for t in doc["targets"] if t["up"] is False]
    if down:
        blocks.append(
            "targets down: "
            + "; ".join(f"{t['collector']}/{t['target']}: {t['last_error']}" for t in down)
        )
    return "\n\n".join(blocks)


def fetch(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET `<url>/status.json`; raises httpx.HTTPError (unreachable, non-200)."""
    import httpx  # the CLI's client only: the status page imports `sentence` from here

    resp = httpx.get(url.rstrip("/") + "/status.json", timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def main(url: str, only: str | None) -> int:
    """Print the report; 1 when the exporter cannot be read, 2 for an unknown class."""
    import logging
    import sys

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # no per-request INFO line
    try:
        doc = fetch(url)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"exporter explain: cannot read {url}/status.json: {exc}", file=sys.stderr)
        return 1
    try:
        print(explain_text(doc, only))
    except KeyError:
        names = ", ".join(r["name"] for r in doc["classes"])
        print(f"exporter explain: --class: no class {only!r} (classes: {names})", file=sys.stderr)
        return 2
    return 0
