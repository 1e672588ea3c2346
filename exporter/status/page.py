"""The status page: `/status.json`'s document as one self-contained HTML page.

No scripts, no external assets (it works offline and behind any proxy): inline CSS, inline
SVG sparklines, and `<meta http-equiv="refresh">` to reload itself. Every value from the
document is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from exporter.status.explain import sentence
from exporter.status.sparkline import sparkline

REFRESH_SECONDS = 5

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.2em;margin:0}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}
table{border-collapse:collapse;margin:.5em 0} td,th{padding:.25em .6em;text-align:left;
border-bottom:1px solid #eee;vertical-align:middle} th{font-weight:600;color:#555}
.why{font-family:ui-monospace,monospace;background:#f3f6fa;padding:.5em;border-radius:4px}
.desired{font-size:1.6em;font-weight:700;color:#246} .ok{color:#170} .bad{color:#b00}
.warn{color:#a60} .muted{color:#777} .head{display:flex;gap:1.5em;align-items:baseline}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v))


def _age(v: float | None) -> str:
    return "never" if v is None else f"{v:.1f} s ago"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.4g}"


def _state(s: dict[str, Any]) -> str:
    if s["value"] is None:
        return f'<span class="bad">unavailable</span><br><small>{_e(s["unavailable"])}</small>'
    if s["fallback"]:
        return (
            '<span class="warn">fallback active</span>'
            f"<br><small>{_e(s['fallback_reason'])}</small>"
        )
    return f'<span class="ok">fresh</span> ({s["age_seconds"]:.1f} s)'


def _signals(row: dict[str, Any]) -> str:
    head = (
        "<tr><th>signal</th><th>source</th><th>value</th><th>state</th><th>target</th>"
        "<th>per replica</th><th>ratio</th><th>tolerance band</th><th>proposal</th>"
        "<th>last minutes</th></tr>"
    )
    body = []
    for s in row["signals"]:
        lo, hi = s["tolerance_band"]
        points = [(t, v) for t, v in s["history"]]
        value = _num(s["value"])
        if s.get("kind") == "Pods" and s["value"] is not None:  # a per-pod average
            value += f" <small>per pod, {s['series']} pods</small>"
        body.append(
            f'<tr class="signal" data-metric="{_e(s["metric"])}"><td>{_e(s["metric"])}</td>'
            f"<td>{_e(s['source'])}</td><td>{value}</td><td>{_state(s)}</td>"
            f"<td>{_num(s['target'])} {_e(s['target_type'])}</td><td>{_num(s['per_replica'])}</td>"
            f"<td>{_num(s['ratio'])}</td><td>{_num(lo)}..{_num(hi)}"
            f"{' (within)' if s['within_tolerance'] else ''}</td>"
            f"<td>{_e(s['proposal'] if s['proposal'] is not None else '–')}</td>"
            f"<td>{sparkline(points, target=s['target'])}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _decision(row: dict[str, Any]) -> str:
    d = row["decision"]
    rate = ""
    if d["rate"]:
        r = d["rate"]
        pol = ", ".join(
            f"{_e(p['policy'])}: from {p['period_start']} allows {p['limit']}"
            for p in r["policies"]
        )
        rate = f"<tr><th>policies (select {_e(r['select_policy'])})</th><td>{pol or '–'}</td></tr>"
    b = row["behavior"]
    beh = "".join(
        f"<tr><th>{key.replace('_', '-')}</th><td>window {b[key]['stabilization_window_seconds']} s; "
        f"{_e(', '.join(b[key]['policies']) or 'no policy')}; select {_e(b[key]['select_policy'])}"
        "</td></tr>"
        for key in ("scale_up", "scale_down")
    )
    desired = [(t, v) for t, v in d["history"]]
    return (
        "<table>"
        f"<tr><th>current</th><td>{d['current']} <small class=muted>({_e(d['current_source'])})"
        "</small></td></tr>"
        f"<tr><th>proposal</th><td>{_e(d['proposal'] if d['proposal'] is not None else '–')}"
        f" {('from ' + _e(d['metric'])) if d['metric'] else ''}</td></tr>"
        f"<tr><th>after stabilization</th><td>{_e(d['stabilized'] if d['stabilized'] is not None else '–')}</td></tr>"
        f"<tr><th>limited by</th><td>{_e(d['limited_by'] or 'nothing')}</td></tr>{rate}"
        f"<tr><th>reason</th><td>{_e(d['reason'])}: {_e(d['message'])}</td></tr>"
        f"<tr><th>desired, last minutes</th><td>{sparkline(desired, target=row['max_replicas'])}"
        f"</td></tr>{beh}</table>"
    )


def _live(row: dict[str, Any]) -> str:
    if not row.get("live"):
        return f'<p class="muted">{_e(row.get("live_note"))}</p>'
    cells = "".join(
        f"<tr><td>{_e(h['hpa'])}</td><td>{_e(h.get('current_replicas'))}</td>"
        f"<td>{_e(h.get('desired_replicas'))}</td><td>{_e(h.get('min_replicas'))}..{_e(h.get('max_replicas'))}</td>"
        f"<td>{_e(h.get('able_to_scale'))}</td><td>{_e(h.get('scaling_active'))}</td>"
        f"<td>{_age(h.get('age_seconds'))}</td></tr>"
        for h in row["live"]
    )
    return (
        "<table><tr><th>live HPA</th><th>current</th><th>desired</th><th>min..max</th>"
        f"<th>AbleToScale</th><th>ScalingActive</th><th>read</th></tr>{cells}</table>"
    )


def _class(row: dict[str, Any]) -> str:
    name = _e(row["name"])
    if row.get("pending"):
        return f'<section class="class" data-class="{name}"><h2>{name}</h2><p>{_e(sentence(row))}</p></section>'
    d = row.get("decision")
    desired = d["desired"] if d else None
    body = _signals(row) + _decision(row) if d else ""
    others = (
        f'<p class="muted">also scales on {_e(", ".join(row["other_metrics"]))} '
        "(metrics-server; not evaluated here)</p>"
        if row.get("other_metrics")
        else ""
    )
    return (
        f'<section class="class" id="class-{name}" data-class="{name}">'
        f'<div class="head"><h2>{name}</h2><span class="muted">{_e(row["workload"])}, '
        f"{row['min_replicas']}..{row['max_replicas']} replicas</span>"
        f'<span>desired <span class="desired" data-desired="{_e(desired)}">{_e(desired if desired is not None else "–")}</span></span></div>'
        f'<p class="why">{_e(sentence(row))}</p>{others}{body}{_live(row)}</section>'
    )


def _targets(doc: dict[str, Any]) -> str:
    rows = []
    for t in doc["targets"]:
        up = t["up"]
        state = '<span class="ok">up</span>' if up else (
            '<span class="muted">pending</span>' if up is None else '<span class="bad">down</span>'
        )  # fmt: skip
        err = (
            ""
            if t["last_error"] is None
            else f"{_e(t['last_error'])} ({_age(t['last_error_age_seconds'])})"
        )
        rows.append(
            f'<tr class="target"><td>{_e(t["collector"])}</td><td>{_e(t["target"])}</td><td>{state}</td>'
            f"<td>{_age(t['last_success_age_seconds'])}</td><td>{err}</td></tr>"
        )
    health = ", ".join(
        f'<span class="{"ok" if c["healthy"] else "bad"}">{_e(c["collector"])} '
        f"{c['up']}/{c['up'] + c['down'] + c['pending']} up</span>"
        for c in doc["collectors"]
    )
    return (
        f"<section><h2>Targets</h2><p>collectors: {health or 'none'}</p>"
        "<table><tr><th>collector</th><th>target</th><th>state</th><th>last success</th>"
        f"<th>last error</th></tr>{''.join(rows)}</table></section>"
    )


def render(doc: dict[str, Any]) -> str:
    synced = doc["synced_age_seconds"]
    synced_txt = "not yet" if synced is None else f"{synced:.1f} s ago"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<title>exporter status</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>exporter status</h1><p class=muted>environment {_e(doc['environment'])}, "
        f"namespace {_e(doc['namespace'])}; HPA algorithm synced {synced_txt} (every "
        f"{doc['sync_seconds']:g} s); {'ready' if doc['ready'] else 'first collection pending'}; "
        '<a href="status.json">status.json</a></p>'
        + "".join(_class(r) for r in doc["classes"])
        + _targets(doc)
        + "</body></html>"
    )
