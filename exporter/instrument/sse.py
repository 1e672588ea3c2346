"""Counting Server-Sent Events in a `text/event-stream` body, whatever the chunking.

An event is what a browser's EventSource dispatches: a block of lines ended by a blank
line that carried at least one `data` field (HTML Living Standard, "Interpreting an event
stream"). Comment-only blocks such as sse-starlette's `: ping` are not events. Lines may
end in LF, CRLF or a lone CR, and a CRLF may be split across two chunks; one body chunk may
hold several events and one event may span several chunks, so the parser keeps the start
of the unfinished line between chunks.
"""

from __future__ import annotations

_LF = 10


class EventCounter:
    """Feed body chunks in order; `feed` returns how many events each chunk completed."""

    __slots__ = ("_pending", "_has_data", "_after_cr")

    def __init__(self) -> None:
        self._pending: bytes | None = None  # first bytes of the unfinished line, if any
        self._has_data = False  # the current block has a data field
        self._after_cr = False  # the last chunk ended in CR: a leading LF is its CRLF

    def feed(self, chunk: bytes) -> int:
        if not chunk:
            return 0
        if self._after_cr and chunk[0] == _LF:
            chunk = chunk[1:]
            if not chunk:
                self._after_cr = False
                return 0
        self._after_cr = chunk[-1] == 13
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if chunk[-2:] == b"\n\n" and self._pending is None and not self._has_data:
            # The usual chunk: whole events, starting at a line start. Blocks between
            # blank lines; a block is an event when one of its lines is a data field.
            body = chunk[:-2]
            if body.startswith(b"data:") and b"\n\n" not in body:
                return 1  # the very usual chunk: one event
            events = 0
            for block in body.split(b"\n\n"):
                if b"data" in block and _has_data_line(block):
                    events += 1
            return events
        return self._feed_lines(chunk)

    def _feed_lines(self, chunk: bytes) -> int:
        lines = chunk.split(b"\n")
        last = len(lines) - 1
        if last == 0:  # no line ended in this chunk
            pending = self._pending
            self._pending = (pending + chunk)[:5] if pending else chunk[:5]
            return 0
        events = 0
        has_data = self._has_data
        pending = self._pending
        for i in range(last):
            line = lines[i]
            if i == 0 and pending:
                line = pending + line
            if not line:
                if has_data:
                    events += 1
                    has_data = False
            elif not has_data and _is_data_field(line):
                has_data = True
        self._has_data = has_data
        tail = lines[last]
        self._pending = tail[:5] if tail else None
        return events


def _is_data_field(line: bytes) -> bool:
    """`data: ...`, `data:...` or a bare `data` (a field with an empty value)."""
    head = line[:5]
    return head == b"data:" or head == b"data"


def _has_data_line(block: bytes) -> bool:
    """Whether a block (lines joined by LF, no blank line inside) has a data field."""
    return (
        block.startswith(b"data:")
        or b"\ndata:" in block
        or block == b"data"
        or block.startswith(b"data\n")
        or b"\ndata\n" in block
        or block.endswith(b"\ndata")
    )
