"""Reaping a dead worker's live-gauge files (the multiprocess test covers it end to end)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from exporter.instrument.multiprocess import gunicorn_child_exit, reap_dead_workers


def test_only_dead_processes_are_reaped(tmp_path: Path, monkeypatch) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "30"])
    zombie = subprocess.Popen(["true"])  # exits, never waited for: a zombie until the end
    try:
        import time

        time.sleep(0.2)
        files = {}
        for name, pid in (("dead", dead.pid), ("alive", alive.pid), ("zombie", zombie.pid)):
            files[name] = tmp_path / f"gauge_livesum_{pid}.db"
            files[name].write_bytes(b"")
        counter = tmp_path / f"counter_{dead.pid}.db"
        counter.write_bytes(b"")
        assert sorted(reap_dead_workers(str(tmp_path))) == sorted([dead.pid, zombie.pid])
        assert files["alive"].exists()
        assert not files["dead"].exists() and not files["zombie"].exists()
        assert counter.exists()  # a dead worker's counters stay in the sum

        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        gunicorn_child_exit(None, SimpleNamespace(pid=alive.pid))
        assert not files["alive"].exists()
    finally:
        alive.kill()
        alive.wait()
        zombie.wait()
