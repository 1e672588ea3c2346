"""A bounded in-memory series per signal and its inline SVG sparkline.

The ring keeps the last `capacity` points only, so memory stays fixed however long the
exporter runs; a restart starts the line afresh (nothing is persisted).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

# Ten minutes at a 5 s sync; plenty for "what happened in the last minutes".
DEFAULT_CAPACITY = 120


class Ring:
    """The last `capacity` (time, value) points; a value of None marks a gap (unavailable)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.points: deque[tuple[float, float | None]] = deque(maxlen=capacity)

    def add(self, at: float, value: float | None) -> None:
        self.points.append((at, value))

    def values(self) -> list[tuple[float, float | None]]:
        return list(self.points)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def sparkline(
    points: Iterable[tuple[float, float | None]],
    target: float | None = None,
    width: int = 160,
    height: int = 32,
) -> str:
    """An inline `<svg>`: the line (broken where a value was unavailable) and, when given, a
    reference level (a signal's target, the max replicas) as a dashed line.
    Empty input gives an empty frame, never an error."""
    pts = list(points)
    known = [v for _, v in pts if _finite(v)]
    top = max([*known, target or 0.0, 1e-9])
    pad = 2
    if len(pts) > 1:
        t0, t1 = pts[0][0], pts[-1][0]
    else:
        t0, t1 = 0.0, 1.0
    span = (t1 - t0) or 1.0

    def xy(t: float, v: float) -> str:
        x = pad + (t - t0) / span * (width - 2 * pad)
        y = height - pad - v / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    segments: list[list[str]] = [[]]
    for t, v in pts:
        if _finite(v):
            segments[-1].append(xy(t, v))  # type: ignore[arg-type]
        elif segments[-1]:
            segments.append([])
    parts = [
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    if target is not None and target > 0:
        y = height - pad - target / top * (height - 2 * pad)
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c33" '
            'stroke-dasharray="3,3" stroke-width="1"/>'
        )
    for seg in segments:
        if len(seg) == 1:
            x, y = seg[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="1.5" fill="#246"/>')
        elif seg:
            parts.append(
                f'<polyline fill="none" stroke="#246" stroke-width="1.5" points="{" ".join(seg)}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
