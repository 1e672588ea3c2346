"""`exporter serve`'s HTTP listener as a real process: gzip, HEAD, 405, the process_* and
serving self-metrics, and file-descriptor exhaustion meeting the connection cap."""

from __future__ import annotations

import gzip
import resource
import socket
import subprocess
import sys
import time

import httpx

from exporter.http_app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.servers import REPO, exporter_process, free_port, sample_value, wait_for


def config(http: int, extra: str = "") -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}"}}
gpu: "off"
metrics_api: {{enabled: false}}
{extra}
"""


def test_metrics_gzip_head_405_and_self_metrics():
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with exporter_process(config(port)):
        wait_for(lambda: httpx.get(url).status_code == 200, what="exporter")
        wait_for(lambda: "process_open_fds" in httpx.get(url).text, what="self-metrics")
        plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        raw = httpx.Client().send(
            httpx.Request("GET", url, headers={"Accept-Encoding": "gzip"}), stream=True
        )
        body = b"".join(raw.iter_raw())
        assert raw.headers["content-encoding"] == "gzip"
        text = gzip.decompress(body).decode()
        for name in (
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "exporter_event_loop_lag_seconds",
        ):
            assert sample_value(text, name) is not None, name
        assert 10e6 < sample_value(text, "process_resident_memory_bytes") < 1e9
        assert abs(sample_value(text, "process_start_time_seconds") - time.time()) < 120
        assert sample_value(text, "exporter_http_connections", listener="http") >= 1
        assert (
            sample_value(
                text,
                "exporter_http_connections_rejected_total",
                listener="http",
                reason="malformed",
            )
            == 0
        )
        head = httpx.head(url)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) > 100
        for path in ("/healthz", "/readyz"):
            assert httpx.head(f"http://127.0.0.1:{port}{path}").status_code == 200
        post = httpx.post(url)
        assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
        assert httpx.get(f"http://127.0.0.1:{port}/nope").status_code == 404


async def test_readyz_waits_for_listeners_started_later():
    """Collections done is not enough: a listener started after this one (the KEDA scaler)
    must be up too, or a Service would route to a pod that cannot answer it yet."""
    up = False
    app = create_app(Snapshot(), Runtime(Snapshot(), []), listeners_up=lambda: up)

    async def readyz() -> tuple[int, bytes]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "http", "path": "/readyz", "method": "GET", "headers": []}, None, send)
        return sent[0]["status"], sent[1]["body"]

    assert await readyz() == (503, b"listeners starting\n")
    up = True
    assert await readyz() == (200, b"ready\n")


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))


def test_fd_limit_is_met_by_the_cap_not_by_accept_errors(tmp_path):
    """nofile 96 (hard): the cap is set below it, so 300 clients meet the cap, the log does
    not fill with accept errors, and a kept-alive scrape connection keeps being answered."""
    port = free_port()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config(port))
    log = tmp_path / "log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "serve", "--config", str(cfg)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_limit_fds,
        )  # fmt: skip
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
        with httpx.Client() as scraper:
            assert scraper.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
            hogs = []
            for _ in range(300):
                try:
                    hogs.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                except OSError:
                    pass
            time.sleep(1.5)
            started = time.monotonic()
            text = scraper.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert time.monotonic() - started < 2
            # all from one address: its share (a quarter of the cap) is met first
            rejected = sum(
                sample_value(
                    text, "exporter_http_connections_rejected_total", listener="http",
                    reason=reason,
                ) or 0
                for reason in ("connection_cap", "client_cap")
            )  # fmt: skip
            assert rejected > 0
            assert sample_value(text, "process_max_fds") == 96
            for s in hogs:
                s.close()
    finally:
        proc.terminate()
        proc.wait(10)
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "out of system resource" in line]
    assert len(lines) < 10, lines
