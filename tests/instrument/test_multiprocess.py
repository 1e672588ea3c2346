"""Two uvicorn workers with PROMETHEUS_MULTIPROC_DIR: one /metrics, the sum of both, and
gauges that drop a worker's share when it is SIGKILLed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.instrument_apps import scrape_text, total
from tests.support.servers import REPO, children_of, free_port, stop_process, wait_for


@pytest.fixture
def two_workers(tmp_path: Path):
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    port = free_port()
    log = open(tmp_path / "log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.support.instrument_mp_app:app", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO), "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/pid").status_code == 200, timeout=40, what="workers")
        yield {"url": url, "dir": mp_dir, "proc": proc}
    finally:
        kids = children_of(proc.pid)
        stop_process(proc)
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def test_sum_over_workers_and_a_dead_workers_gauges(two_workers) -> None:
    url = two_workers["url"]
    before = total(scrape_text(url + "/metrics"), "http_requests_total", route="/pid")

    # Fresh connections until both workers have answered (the kernel picks the worker).
    served: Counter[int] = Counter()
    sent = 0
    while sent < 20 or (len(served) < 2 and sent < 400):
        with httpx.Client() as c:
            served[c.get(url + "/pid").json()["pid"]] += 1
        sent += 1
    assert len(served) == 2, f"one worker took all {sent} connections: {served}"
    for _ in range(2):  # whichever worker answers the scrape, it shows the sum
        text = scrape_text(url + "/metrics")
        assert total(text, "http_requests_total", route="/pid") - before == sent
        assert total(text, "http_request_duration_seconds_count", route="/pid") - before == sent

    # Open SSE streams until both workers hold some.
    streams: list[tuple[httpx.Client, httpx.Response, int]] = []
    by_worker: Counter[int] = Counter()
    try:
        while len(by_worker) < 2 or len(streams) < 4:
            assert len(streams) < 60, f"streams did not spread over the workers: {by_worker}"
            client = httpx.Client(timeout=10)
            resp = client.send(client.build_request("GET", url + "/stream"), stream=True)
            pid = int(resp.headers["x-worker-pid"])
            streams.append((client, resp, pid))
            by_worker[pid] += 1
        n = len(streams)

        def gauges() -> tuple[float, float]:
            text = scrape_text(url + "/metrics")
            return (
                total(text, "sse_streams_active", route="/stream"),
                total(text, "http_requests_in_flight", route="/stream"),
            )

        wait_for(lambda: gauges() == (n, n), timeout=10, what=f"{n} active streams")

        victim = min(by_worker, key=lambda p: (by_worker[p], p))
        k = by_worker[victim]
        assert (two_workers["dir"] / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: gauges() == (n - k, n - k),
            timeout=15,
            what=f"gauges to drop the dead worker's {k} streams",
        )
        assert not (two_workers["dir"] / f"gauge_livesum_{victim}.db").exists()
        # its counters stay in the sum: a counter never goes backwards
        text = scrape_text(url + "/metrics")
        assert total(text, "http_requests_total", route="/pid") - before == sent
    finally:
        for client, resp, _pid in streams:
            with contextlib.suppress(Exception):
                resp.close()
            client.close()
    wait_for(lambda: gauges() == (0, 0), timeout=15, what="streams to close")
