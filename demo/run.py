"""`make demo`: the exporter, the demo component app and some traffic, on this machine.

Starts throwaway Redis (:6379) and PostgreSQL (:5432) when nothing listens there (the
embedded default configuration points at them), then `python -m exporter serve`, the demo
app under uvicorn, a few jobs on the Redis lists `jobs:cpu|gpu|memory` (and a trickle
more, some taken off again, so queue depth moves), and `demo.traffic` in a loop. Ctrl-C
stops everything it started and removes its temporary directories.

Environment: DEMO_PORT (8000), COMPONENT_CLASS (cpu), DEMO_WORKERS (1; more runs the app
with PROMETHEUS_MULTIPROC_DIR so /metrics sums the workers).
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

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
REDIS_PORT, PG_PORT, EXPORTER_PORT = 6379, 5432, 9464
QUEUES = {"cpu": 12, "gpu": 5, "memory": 3}


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
    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="exporter-demo-"))
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pg_data: Path | None = None

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
        if listening(REDIS_PORT):
            return f"Redis: using the one already on :{REDIS_PORT}"
        if not shutil.which("redis-server"):
            return "Redis: redis-server not installed (queue metrics will show redis_up 0)"
        proc = self.spawn(
            "redis",
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work)],
        )  # fmt: skip
        wait_listening(REDIS_PORT, "redis-server", proc)
        return f"Redis: started a throwaway one on :{REDIS_PORT}"

    def start_postgres(self) -> str:
        if listening(PG_PORT):
            return f"PostgreSQL: using the one already on :{PG_PORT}"
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
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(self.pg_data), "-l",
             str(pg_dir / "postgres.log"), "-w", "start", "-o",
             f"-p {PG_PORT} -k {pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(self.pg_data)]
        return f"PostgreSQL: started a throwaway one on :{PG_PORT}"

    def push_jobs(self, first: bool) -> None:
        """Jobs as JSON with an enqueue time; later calls add a few and take some off."""
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis(port=REDIS_PORT, socket_timeout=2)
            for cls, n in QUEUES.items():
                n = n if first else random.randint(0, 3)
                for _ in range(n):
                    job = {"id": os.urandom(4).hex(), "class": cls, "enqueued_at": time.time()}
                    client.lpush(f"jobs:{cls}", json.dumps(job))
                if not first:
                    for _ in range(random.randint(0, 2)):
                        client.rpop(f"jobs:{cls}")
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
        if self.pg_data is not None:
            subprocess.run([*self._pg_ctl, "-m", "fast", "stop"], capture_output=True)
            print("  stopped PostgreSQL")
        shutil.rmtree(self.work, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    port = int(os.environ.get("DEMO_PORT", "8000"))
    component_class = os.environ.get("COMPONENT_CLASS", "cpu")
    workers = int(os.environ.get("DEMO_WORKERS", "1"))
    for p, what in ((port, "the demo app (set DEMO_PORT)"), (EXPORTER_PORT, "the exporter")):
        if listening(p):
            print(f"make demo: :{p} is taken; it is needed for {what}", file=sys.stderr)
            return 1
    demo = Demo()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background
    try:
        print(demo.start_redis())
        print(demo.start_postgres())
        exporter = demo.spawn("exporter", [PY, "-m", "exporter", "serve"])
        app_env = {"COMPONENT_CLASS": component_class}
        if workers > 1:
            mp_dir = demo.work / "multiproc"
            mp_dir.mkdir()
            app_env["PROMETHEUS_MULTIPROC_DIR"] = str(mp_dir)
        app = demo.spawn(
            "app",
            [PY, "-m", "uvicorn", "demo.app:app", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), "--log-level", "warning"],
            app_env,
        )  # fmt: skip
        wait_listening(EXPORTER_PORT, "the exporter", exporter)
        wait_listening(port, "the demo app", app)
        demo.push_jobs(first=True)
        url = f"http://127.0.0.1:{port}"
        print(
            f"""
Running (logs in {demo.work}):
  demo app ({component_class}, {workers} worker(s)): {url}
    its metrics:      {url}/metrics
    with exemplars:   curl -H 'Accept: application/openmetrics-text; version=1.0.0' {url}/metrics
    API docs:         {url}/docs
  exporter:           http://127.0.0.1:{EXPORTER_PORT}/metrics  (pg_*, redis_*, queue_* ...)
  traffic:            python -m demo.traffic --url {url} (in a loop)
Watch http_requests_total, http_request_duration_seconds, http_requests_in_flight,
sse_events_total, sse_first_event_seconds, sse_client_disconnects_total, batch_size,
http_request_exceptions_total on the app; queue_depth{{component_class=...}} on the exporter.
Ctrl-C stops everything.
"""
        )
        traffic = None
        next_jobs = time.monotonic() + 10
        while True:
            for name, proc in demo.procs:
                if name in ("exporter", "app") and proc.poll() is not None:
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
