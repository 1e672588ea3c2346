"""Rate-limited rejection warnings are right from the first second of uptime: the first one
logs at once whatever the monotonic clock reads (issue 20: on a node up under 60 s, the
first waited up to 60 s, because "last logged" started at 0.0)."""

from __future__ import annotations

import logging

from exporter.http.limits import ListenerStats


def test_first_rejection_logs_at_once_on_a_fresh_clock(caplog):
    now = [0.5]  # half a second after boot
    stats = ListenerStats("http", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="exporter.http.limits"):
        stats.reject("head_timeout")
        now[0] += 30
        stats.reject("connection_cap")
        stats.reject("connection_cap")
        now[0] += 30  # a minute after the first line
        stats.reject("malformed")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "1 connection(s) rejected" in lines[0] and "latest: head_timeout" in lines[0]
    assert "3 connection(s) rejected" in lines[1] and "latest: malformed" in lines[1]
    assert stats.rejected["connection_cap"] == 2
