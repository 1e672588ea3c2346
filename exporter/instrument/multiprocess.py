"""Multiprocess mode: several uvicorn/gunicorn workers, one `/metrics` with their sum.

prometheus_client writes each worker's values to `$PROMETHEUS_MULTIPROC_DIR/<kind>_<pid>.db`
and `MultiProcessCollector` sums the files. Counters and histograms of a dead worker stay
in the sum (a counter must not go backwards); the `livesum` gauges (in-flight requests,
active streams) must not, so their files are removed when their process is gone.

`reap_dead_workers()` runs before every multiprocess scrape and finds dead workers itself,
whatever started them (`uvicorn --workers`, gunicorn, a supervisor that restarts a
SIGKILLed worker). `gunicorn_child_exit` is the hook for a gunicorn config that wants it
done at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The directory when multiprocess mode is on, else None."""
    return os.environ.get(ENV) or None


_HAVE_PROC = os.path.isdir("/proc/self")


def _alive(pid: int) -> bool:
    if _HAVE_PROC:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        # A SIGKILLed worker its parent has not reaped yet is a zombie: dead to us.
        return state != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_workers(path: str) -> list[int]:
    """Drop the live-gauge files of processes that no longer run; returns their pids."""
    try:
        names = os.listdir(path)
    except OSError:
        return []
    pids = {int(m.group(1)) for n in names if (m := _LIVE_FILE.match(n))}
    dead = sorted(pid for pid in pids if pid != os.getpid() and not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, path)
    return dead


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A fresh registry that sums every worker's files (after reaping the dead)."""
    reap_dead_workers(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    return registry


def gunicorn_child_exit(server: object, worker: object) -> None:
    """gunicorn `child_exit` hook: `from exporter.instrument.multiprocess import
    gunicorn_child_exit as child_exit` in gunicorn.conf.py."""
    path = multiprocess_dir()
    if path:
        mark_process_dead(worker.pid, path)  # type: ignore[attr-defined]
