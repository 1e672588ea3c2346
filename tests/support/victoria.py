"""VictoriaMetrics single-node (Debian `victoria-metrics`) on a free loopback port.

It scrapes like Prometheus (`-promscrape.config`, the same scrape_configs syntax) and serves
the Prometheus query API, optionally behind HTTP basic auth (`-httpAuth.*`). Its default
`-search.latencyOffset` (30 s) hides fresh points from instant queries; 1 s here so tests
see a scrape within seconds, as they do with Prometheus.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from tests.support.servers import Server, free_port, stop_process, wait_for


@contextlib.contextmanager
def victoria_metrics(
    scrape_configs: list[dict], username: str = "", password: str = ""
) -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="exporter-vm-"))
    port = free_port()
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": scrape_configs}
    (workdir / "scrape.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    args = [
        "victoria-metrics",
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={workdir / 'data'}",
        f"-promscrape.config={workdir / 'scrape.yml'}",
        "-search.latencyOffset=1s",
        "-loggerLevel=ERROR",
    ]
    if username:
        args += [f"-httpAuth.username={username}", f"-httpAuth.password={password}"]
    log = open(workdir / "log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server("victoria-metrics", port, proc=proc, workdir=workdir)
    server.extra["url"] = f"http://127.0.0.1:{port}"
    auth = (username, password) if username else None
    try:
        wait_for(
            lambda: (
                proc.poll() is not None
                or httpx.get(f"{server.extra['url']}/health", auth=auth, timeout=1).status_code
                == 200
            ),
            timeout=30,
            what="victoria-metrics /health",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"victoria-metrics exited: {(workdir / 'log').read_text()[-2000:]}")
        yield server
    finally:
        stop_process(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
