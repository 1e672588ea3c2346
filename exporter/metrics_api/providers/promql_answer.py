"""A Prometheus instant-query answer read by a strict schema, without stalling the event loop.

The schema (Prometheus HTTP API, `/api/v1/query`):
  {"status": "success", "data": {"resultType": "vector", "result": [
      {"metric": {"<label>": "<value>", ...}, "value": [<unix seconds>, "<number>"]}, ...]}}
or `"resultType": "scalar", "result": [<unix seconds>, "<number>"]`. Anything else is an
`AnswerError` naming what is wrong: a body that is not a JSON object, `data` null, `result`
not a list, a row without `value`, a value that is not a number or not finite or beyond a
Quantity (`exporter.values`), a timestamp that is not a plausible unix time, labels that are
not an object of strings, more rows than `max_series`.

Why rows are decoded one at a time: `json.loads` of an 18 MB body holds the GIL for a
second, and a thread would not help. The vector's rows are decoded with `raw_decode`, one
small value per call, in a worker thread, so the event loop (serving `/metrics`) gets the
GIL back every switch interval. The envelope around the rows is parsed last, with the
result array spliced out, and must put that array at `data.result`. A body with no vector
result array is parsed whole only when it is small (`SMALL_BODY`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from exporter.values import InvalidValue, checked

from .base import MetricValue

SMALL_BODY = 64 * 1024
MAX_TIMESTAMP = 4e9  # unix seconds in 2096: a larger "timestamp" is not a time
_RESULT_ARRAY = re.compile(r'"result"\s*:\s*\[')
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class AnswerError(ValueError):
    """The answer does not have the documented shape; the message says where."""


def _timestamp(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise AnswerError(f"{where}: timestamp {str(raw)[:40]!r} is not a number")
    if not (math.isfinite(raw) and 0 < raw < MAX_TIMESTAMP):
        raise AnswerError(f"{where}: timestamp {raw!r} is not a plausible unix time")
    return float(raw)


def _sample(pair: Any, where: str) -> tuple[float, float]:
    """[<ts>, "<number>"] as (timestamp, value)."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise AnswerError(f'{where}: value must be [timestamp, "number"]')
    ts = _timestamp(pair[0], where)
    if not isinstance(pair[1], str):
        raise AnswerError(f"{where}: value {str(pair[1])[:40]!r} is not a quoted number")
    try:
        return ts, checked(float(pair[1]))
    except ValueError as exc:  # float() or InvalidValue
        reason = exc if isinstance(exc, InvalidValue) else f"{pair[1][:40]!r} is not a number"
        raise AnswerError(f"{where}: value {reason}") from None


def _row(row: Any, index: int) -> MetricValue:
    where = f"result[{index}]"
    if not isinstance(row, dict):
        raise AnswerError(f"{where} is not an object")
    labels = row.get("metric", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise AnswerError(f"{where}.metric is not an object of label strings")
    if "value" not in row:
        raise AnswerError(f"{where} has no value")
    ts, value = _sample(row["value"], where)
    return MetricValue({k: v for k, v in labels.items() if k != "__name__"}, value, ts)


def _items(text: str, start: int, max_series: int) -> tuple[list[Any], int]:
    """The items of the array opened just before `start` (decoded, not yet checked), and
    the index of its `]`."""
    out: list[Any] = []
    pos = _WS.match(text, start).end()  # type: ignore[union-attr]
    if text.startswith("]", pos):
        return out, pos
    while True:
        try:
            row, pos = _DECODER.raw_decode(text, pos)
        except ValueError as exc:
            raise AnswerError(f"result[{len(out)}] is not valid JSON: {exc}") from None
        if len(out) >= max_series:
            raise AnswerError(f"more than {max_series} series (prometheus.max_series)")
        out.append(row)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            return out, pos
        if not text.startswith(",", pos):
            raise AnswerError(f"result[{len(out)}]: expected ',' or ']'")
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]


def _envelope(text: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AnswerError(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AnswerError(f"the body is a JSON {type(doc).__name__}, not an object")
    if doc.get("status") != "success":
        raise AnswerError(f"status is {str(doc.get('status'))[:40]!r}, not 'success'")
    if not isinstance(doc.get("data"), dict):
        raise AnswerError(f"data is {type(doc.get('data')).__name__}, not an object")
    return doc["data"]


def parse_answer(body: bytes, max_series: int) -> list[MetricValue]:
    """The values of a successful instant-query answer; AnswerError for any other shape.

    CPU-bound: call it in a worker thread (`promql.decode_executor()`)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise AnswerError("the body is not UTF-8") from None
    match = _RESULT_ARRAY.search(text)
    if match is None:
        if len(text) > SMALL_BODY:
            raise AnswerError(f"a {len(text)}-byte body without a result array")
        data = _envelope(text)
        kind, result = data.get("resultType"), data.get("result")
    else:
        items, end = _items(text, match.end(), max_series)
        data = _envelope(text[: match.end()] + text[end:])
        kind, result = data.get("resultType"), data.get("result")
        if result != []:  # the array spliced out was not data.result
            raise AnswerError("data.result is not where the answer's result array is")
        result = items
    if kind == "scalar":
        ts, value = _sample(result, "result")
        return [MetricValue({}, value, ts)]
    if kind != "vector":
        raise AnswerError(f"the query must return a vector or scalar, got {str(kind)[:40]!r}")
    if not isinstance(result, list):
        raise AnswerError(f"result is {type(result).__name__}, not a list of series")
    return [_row(row, i) for i, row in enumerate(result)]
