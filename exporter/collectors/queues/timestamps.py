"""Turning what a job carries (a JSON payload, a stream entry id) into its enqueue time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# Unix seconds pass 1e11 only in the year 5138, so anything larger is milliseconds.
_MS_THRESHOLD = 1e11


def unix_seconds(value: Any) -> float:
    """Unix seconds from a number (seconds or milliseconds) or an ISO-8601 string.

    A naive ISO time is read as UTC. Raises ValueError with the reason.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a timestamp, got {value!r}")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = float(value)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"not a number or ISO-8601 time: {value[:40]!r}") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    else:
        raise ValueError(f"expected a timestamp, got {type(value).__name__}")
    return ts / 1000.0 if ts > _MS_THRESHOLD else ts


def field_from_json(payload: bytes | str, path: str) -> Any:
    """The value at a dotted path (`meta.enqueued_at`) in a JSON object payload."""
    try:
        node: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the job payload is not JSON") from None
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"the job payload has no field {path!r}")
        node = node[part]
    return node


def stream_id_seconds(entry_id: bytes | str) -> float:
    """The time part of an auto-generated stream entry id (`<ms>-<seq>`) in unix seconds."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, _ = text.partition("-")
    return int(ms) / 1000.0
