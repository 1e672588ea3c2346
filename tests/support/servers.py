"""Real servers for tests: PostgreSQL, Redis, Prometheus and the exporter itself.

Each starts from the Debian package's binaries on a free loopback port in a temp dir and
is torn down afterwards. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; returns its value or fails with `what`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the server may not be up yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


def children_of(pid: int) -> list[int]:
    """All descendants of pid, read from /proc (for stopping a whole server)."""
    parents: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        parents.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen | None = None
    pid: int | None = None
    workdir: Path | None = None
    extra: dict = field(default_factory=dict)

    def signal_tree(self, sig: int) -> None:
        """Signal the server and every process it forked (SIGSTOP hangs it whole)."""
        pid = self.pid or (self.proc.pid if self.proc else None)
        assert pid is not None
        for p in [pid, *children_of(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)

    def pause(self) -> None:
        self.signal_tree(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_tree(signal.SIGCONT)


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server(port: int | None = None, password_auth: bool = False) -> Iterator[Server]:
    """A PostgreSQL cluster; `password_auth`: TCP logins need a password (scram-sha-256),
    while the unix socket in `workdir` stays `trust` for the test's own admin session."""
    workdir = Path(tempfile.mkdtemp(prefix="exporter-pg-"))
    data = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    port = port or free_port()
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    if password_auth:
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
    opts = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40"
    )
    with running_postgres("postgres", data, port, opts) as server:
        yield server


@contextlib.contextmanager
def running_postgres(name: str, data: Path, port: int, opts: str) -> Iterator[Server]:
    """pg_ctl start on an initialised data dir (inside its temp dir); stop and remove after."""
    workdir = data.parent
    subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(workdir / "log"), "-w", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().split()[0])
    server = Server(name, port, pid=pid, workdir=workdir)
    server.extra["dsn"] = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield server
    finally:
        server.resume()
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="exporter-redis-"))
    port = port or free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = Server("redis", port, proc=proc, workdir=workdir)
    server.extra["url"] = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() or True, what="redis"
        )
        yield server
    finally:
        server.resume()
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def pythonpath() -> str:
    """PYTHONPATH for a Python the tests start: the repo, then whatever the tests run with
    (`--fresh-boot-clock` puts its sitecustomize there)."""
    return os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


@contextlib.contextmanager
def exporter_process(
    config_text: str | None, env: dict[str, str] | None = None, python: str | None = None
) -> Iterator[Server]:
    """`python -m exporter serve` on a config file (None: the embedded default), as a real
    subprocess; `python` is another interpreter (a venv without the test extras, say)."""
    workdir = Path(tempfile.mkdtemp(prefix="exporter-run-"))
    args = [python or sys.executable, "-m", "exporter", "serve"]
    if config_text is not None:
        config = workdir / "config.yaml"
        config.write_text(config_text)
        args += ["--config", str(config)]
    log = open(workdir / "log", "w")
    proc = subprocess.Popen(
        args,
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": pythonpath(), **(env or {})},
    )  # fmt: skip
    server = Server("exporter", 0, proc=proc, workdir=workdir)
    server.extra["log"] = workdir / "log"
    try:
        yield server
    finally:
        if proc.poll() is None:
            stop_process(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _ready_binary(name: str, workdir: Path, port: int, args: list[str]) -> Iterator[Server]:
    """Run a Prometheus-family binary in `workdir` (its log in workdir/log) and yield once
    `/-/ready` answers; raise with the log if it exits first. Stopped and removed after."""
    log = open(workdir / "log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, port, proc=proc, workdir=workdir)
    server.extra["url"] = f"http://127.0.0.1:{port}"
    server.extra["log"] = workdir / "log"
    try:
        wait_for(
            lambda: (
                proc.poll() is not None
                or httpx.get(f"{server.extra['url']}/-/ready", timeout=1).status_code == 200
            ),
            timeout=30,
            what=f"{name} /-/ready",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {(workdir / 'log').read_text()[-2000:]}")
        yield server
    finally:
        server.resume()
        stop_process(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def prometheus_process(
    scrape_configs: list[dict],
    scrape_interval: str = "1s",
    rule_files: tuple[str | os.PathLike[str], ...] | list[str | os.PathLike[str]] = (),
    evaluation_interval: str | None = None,
    alertmanagers: tuple[str, ...] | list[str] = (),
) -> Iterator[Server]:
    """The Debian `prometheus` binary with these `scrape_configs` (full Prometheus syntax, so
    targets can carry labels such as the pod/namespace ones kubernetes_sd adds) on a free
    loopback port. Rule files are copied into the temp dir so the test's files stay untouched.
    Firing alerts go to `alertmanagers` ("host:port"). Yields once `/-/ready` answers;
    `server.extra["url"]` is the base URL."""
    import yaml

    workdir = Path(tempfile.mkdtemp(prefix="exporter-prom-"))
    port = free_port()
    rules = []
    for i, path in enumerate(rule_files):
        dest = workdir / f"rules-{i}-{Path(path).name}"
        shutil.copyfile(path, dest)
        rules.append(str(dest))
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
        "rule_files": rules,
        "scrape_configs": scrape_configs,
    }
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    args = [
        "prometheus", f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]  # fmt: skip
    with _ready_binary("prometheus", workdir, port, args) as server:
        yield server


@contextlib.contextmanager
def alertmanager_server(config_text: str) -> Iterator[Server]:
    """The Debian `prometheus-alertmanager` binary on this config, on a free loopback port,
    clustering off. Yields once `/-/ready` answers; `server.extra["url"]` is the base URL."""
    workdir = Path(tempfile.mkdtemp(prefix="exporter-am-"))
    port = free_port()
    (workdir / "alertmanager.yml").write_text(config_text)
    args = [
        "prometheus-alertmanager", f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=", "--log.level=warn",
    ]  # fmt: skip
    with _ready_binary("alertmanager", workdir, port, args) as server:
        yield server


def scrape(url: str, timeout: float = 5.0, openmetrics: bool = False) -> str:
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    resp = httpx.get(url, timeout=timeout, headers=headers)
    resp.raise_for_status()
    return resp.text


def sample_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series `name{labels...}` in exposition text (subset match)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


@contextlib.contextmanager
def prometheus_server(
    scrape_targets: dict[str, list[str]] | list[str],
    rule_files: tuple[str | os.PathLike[str], ...] | list[str | os.PathLike[str]] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str | None = None,
) -> Iterator[Server]:
    """`prometheus_process` with static targets: `scrape_targets` maps job name ->
    ["host:port", ...] (a plain list becomes job `targets`)."""
    if isinstance(scrape_targets, list):
        scrape_targets = {"targets": scrape_targets}
    scrape_configs = [
        {"job_name": job, "static_configs": [{"targets": list(targets)}]}
        for job, targets in scrape_targets.items()
    ]
    with prometheus_process(
        scrape_configs, scrape_interval, rule_files, evaluation_interval
    ) as server:
        yield server


def prometheus_query(base_url: str, expr: str, timeout: float = 10.0) -> list[dict]:
    """Instant query through the HTTP API; raises with Prometheus's error text on failure."""
    resp = httpx.get(f"{base_url}/api/v1/query", params={"query": expr}, timeout=timeout)
    body = resp.json()
    if body.get("status") != "success":
        raise ValueError(f"query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
    return body["data"]["result"]
