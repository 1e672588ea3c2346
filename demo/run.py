"""`make demo`: the exporter, the demo app, traffic, Prometheus and Alertmanager, locally.

Starts throwaway Redis and PostgreSQL, `python -m exporter serve` (on the embedded default
config, pointed at them), the demo app under uvicorn, Prometheus (scraping both, loading the
generated rules and `demo/rules.yml`), Alertmanager (the generated routing plus a route to a
local sink that prints each alert), a few jobs on the Redis lists `jobs:cpu|gpu|memory` (and
a trickle more), and `demo.traffic` in a loop. Each queue is drained at 0.5 job/s per
desired replica that the status page shows, so `python -m demo.burst --class gpu --jobs 200`
makes the gpu class scale up, drain, and scale down after its stabilization window.

Every part listens on its usual port (Redis 6379, PostgreSQL 5432, exporter 9464, app 8000,
Prometheus 9090, Alertmanager 9093) or, when that port is taken (or DEMO_FREE_PORTS=1), on a
free one; the URLs printed say which. Ctrl-C stops everything it started and removes its
temporary directories.

Environment: DEMO_PORT (8000), COMPONENT_CLASS (cpu), DEMO_WORKERS (1; more runs the app
with PROMETHEUS_MULTIPROC_DIR so /metrics sums the workers), DEMO_FREE_PORTS.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from demo.monitoring import alertmanager_cmd, prometheus_cmd
from demo.sink import AlertSink

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
DEFAULT_PORTS = {"redis": 6379, "postgres": 5432, "exporter": 9464, "exporter-https": 6443,
                 "app": 8000, "prometheus": 9090, "alertmanager": 9093}  # fmt: skip
QUEUES = {"cpu": 12, "gpu": 5, "memory": 3}
JOBS_PER_REPLICA_PER_SECOND = 0.5  # how fast one (pretend) worker drains its queue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_ports(defaults: dict[str, int], any_port: bool) -> dict[str, int]:
    """Each part's usual port, or a free one when it is taken (or `any_port`)."""
    return {
        name: free_port() if any_port or listening(port) else port
        for name, port in defaults.items()
    }


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.3):
        return True
    return False


def wait_listening(port: int, what: str, proc: subprocess.Popen | None, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not listening(port):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on :{port} within {timeout:g}s")
        time.sleep(0.2)


class Demo:
    def __init__(self, ports: dict[str, int]) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="exporter-demo-"))
        self.ports = ports
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pg_data: Path | None = None
        self.sink: AlertSink | None = None
        self._drain_credit: dict[str, float] = {}

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None):
        log = open(self.work / f"{name}.log", "w")
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
        )
        self.procs.append((name, proc))
        return proc

    def start_redis(self) -> str:
        port = self.ports["redis"]
        if not shutil.which("redis-server"):
            return "Redis: redis-server not installed (queue metrics will show redis_up 0)"
        proc = self.spawn(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work)],
        )  # fmt: skip
        wait_listening(port, "redis-server", proc)
        return f"Redis: started a throwaway one on :{port}"

    def start_postgres(self) -> str:
        port = self.ports["postgres"]
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            return "PostgreSQL: not installed (pg_up will be 0)"
        bin_dir = Path(found[-1]).parent
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        pg_dir = self.work / "pg"
        pg_dir.mkdir()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.work, "postgres", "postgres")
            shutil.chown(pg_dir, "postgres", "postgres")
        self.pg_data = pg_dir / "data"
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(self.pg_data), "-A", "trust",
             "-U", "postgres", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(self.pg_data)]
        subprocess.run(
            [*self._pg_ctl, "-l", str(pg_dir / "postgres.log"), "-w", "start", "-o",
             f"-p {port} -k {pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off"],
            check=True, capture_output=True,
        )  # fmt: skip
        return f"PostgreSQL: started a throwaway one on :{port}"

    def exporter_config(self) -> Path:
        """The embedded default config, pointed at this demo's ports."""
        from importlib.resources import files

        config = yaml.safe_load(files("exporter").joinpath("default_config.yaml").read_text())
        p = self.ports
        config["listen"] = {"http": f"127.0.0.1:{p['exporter']}",
                            "https": f"127.0.0.1:{p['exporter-https']}"}  # fmt: skip
        config["postgres"][0]["dsn"] = f"postgresql://postgres@127.0.0.1:{p['postgres']}/postgres"
        config["redis"][0]["url"] = self.redis_url
        config["prometheus"]["url"] = f"http://127.0.0.1:{p['prometheus']}"
        path = self.work / "exporter.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    def start_monitoring(self) -> tuple[subprocess.Popen, subprocess.Popen]:
        """The alert sink, Alertmanager and Prometheus (which needs Alertmanager's address)."""
        p = self.ports
        self.sink = AlertSink(0).start()
        am = self.spawn(
            "alertmanager", alertmanager_cmd(self.work, p["alertmanager"], self.sink.url)
        )
        prom = self.spawn(
            "prometheus",
            prometheus_cmd(self.work, p["prometheus"], f"127.0.0.1:{p['exporter']}",
                           f"127.0.0.1:{p['app']}", f"127.0.0.1:{p['alertmanager']}"),
        )  # fmt: skip
        return am, prom

    def push_jobs(self, first: bool) -> None:
        """Jobs as JSON with an enqueue time; later calls add a few and take some off."""
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            for cls, n in QUEUES.items():
                n = n if first else random.randint(0, 3)
                for _ in range(n):
                    job = {"id": os.urandom(4).hex(), "class": cls, "enqueued_at": time.time()}
                    client.lpush(f"jobs:{cls}", json.dumps(job))
                if not first:
                    for _ in range(random.randint(0, 2)):
                        client.rpop(f"jobs:{cls}")
            client.close()

    def drain(self, seconds: float) -> None:
        """Take jobs off each queue as fast as the class's desired replicas would."""
        import redis

        with contextlib.suppress(Exception):
            doc = httpx.get(f"http://127.0.0.1:{self.ports['exporter']}/status.json", timeout=1)
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            for row in doc.json()["classes"]:
                replicas = (row.get("decision") or {}).get("desired") or 0
                credit = self._drain_credit.get(row["name"], 0.0)
                credit += replicas * JOBS_PER_REPLICA_PER_SECOND * seconds
                take = int(credit)
                if take:
                    client.rpop(f"jobs:{row['name']}", take)
                self._drain_credit[row["name"]] = credit - take
            client.close()

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            print(f"  stopped {name}")
        if self.sink is not None:
            self.sink.stop()
            print("  stopped the alert sink")
        if self.pg_data is not None:
            subprocess.run([*self._pg_ctl, "-m", "fast", "stop"], capture_output=True)
            print("  stopped PostgreSQL")
        shutil.rmtree(self.work, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def banner(demo: Demo, component_class: str, workers: int) -> str:
    p = demo.ports
    url = f"http://127.0.0.1:{p['app']}"
    exporter = f"http://127.0.0.1:{p['exporter']}"
    prom = f"http://127.0.0.1:{p['prometheus']}"
    redis_opt = "" if p["redis"] == 6379 else f" --redis-url {demo.redis_url}"
    sink = demo.sink.url if demo.sink else "-"
    return f"""
Running (logs in {demo.work}):
  status page:        {exporter}/   (why each class scales; JSON: {exporter}/status.json)
  exporter metrics:   {exporter}/metrics  (pg_*, redis_*, queue_* ...)
  explain:            python -m exporter explain --url {exporter}
  Prometheus graph:   {prom}/graph?g0.expr=queue_depth&g0.tab=0&g0.range_input=15m
  Prometheus alerts:  {prom}/alerts
  Alertmanager:       http://127.0.0.1:{p["alertmanager"]}/
  alert sink:         {sink}   (every alert Alertmanager sends; also printed here)
  demo app ({component_class}, {workers} worker(s)): {url}   (metrics: {url}/metrics, docs: {url}/docs)
  traffic:            python -m demo.traffic --url {url} (in a loop)
Try a burst:          python -m demo.burst --class gpu --jobs 200{redis_opt}
  then watch gpu's desired replicas rise on the status page, the queue drain, and (after
  the 300 s scale-down stabilization window) the replicas fall; DemoQueueBurst fires.
Ctrl-C stops everything.
"""


def main() -> int:
    component_class = os.environ.get("COMPONENT_CLASS", "cpu")
    workers = int(os.environ.get("DEMO_WORKERS", "1"))
    defaults = {**DEFAULT_PORTS, "app": int(os.environ.get("DEMO_PORT", "8000"))}
    ports = choose_ports(defaults, os.environ.get("DEMO_FREE_PORTS", "") not in ("", "0"))
    demo = Demo(ports)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background
    try:
        print(demo.start_redis())
        print(demo.start_postgres())
        exporter = demo.spawn("exporter", [PY, "-m", "exporter", "serve", "--config",
                                           str(demo.exporter_config())])  # fmt: skip
        app_env = {"COMPONENT_CLASS": component_class}
        if workers > 1:
            mp_dir = demo.work / "multiproc"
            mp_dir.mkdir()
            app_env["PROMETHEUS_MULTIPROC_DIR"] = str(mp_dir)
        app = demo.spawn(
            "app",
            [PY, "-m", "uvicorn", "demo.app:app", "--host", "127.0.0.1", "--port",
             str(ports["app"]), "--workers", str(workers), "--log-level", "warning"],
            app_env,
        )  # fmt: skip
        am, prom = demo.start_monitoring()
        wait_listening(ports["exporter"], "the exporter", exporter)
        wait_listening(ports["app"], "the demo app", app)
        wait_listening(ports["alertmanager"], "Alertmanager", am)
        wait_listening(ports["prometheus"], "Prometheus", prom)
        demo.push_jobs(first=True)
        url = f"http://127.0.0.1:{ports['app']}"
        print(banner(demo, component_class, workers), flush=True)
        watched = ("exporter", "app", "prometheus", "alertmanager")
        traffic = None
        next_jobs = time.monotonic() + 10
        while True:
            for name, proc in demo.procs:
                if name in watched and proc.poll() is not None:
                    print(
                        f"make demo: {name} exited ({proc.returncode}); see {demo.work}/{name}.log"
                    )
                    print((demo.work / f"{name}.log").read_text()[-2000:])
                    return 1
            if traffic is None or traffic.poll() is not None:
                if traffic is not None:
                    demo.procs.remove(("traffic", traffic))
                traffic = demo.spawn(
                    "traffic", [PY, "-m", "demo.traffic", "--url", url, "--seconds", "60"]
                )
            if time.monotonic() > next_jobs:
                demo.push_jobs(first=False)
                next_jobs = time.monotonic() + 10
            demo.drain(1.0)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.stop()


if __name__ == "__main__":
    raise SystemExit(main())
