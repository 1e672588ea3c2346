"""One PostgreSQL and one Redis health cycle of ours next to one scrape of the Debian peers.

Starts a PostgreSQL primary with a streaming standby and a replication slot, and a Redis
primary with a replica (tests/topologies.py), then against the primaries measures:

- ours: `PostgresCollector.collect()` / `RedisCollector.collect()` in this process;
- peers: one HTTP scrape of Debian's `prometheus-postgres-exporter` and
  `prometheus-redis-exporter` (apt-get installed when missing), each on the same server.

Columns, per cycle or scrape (median wall of `--reps`, after two warm-up rounds):
wall ms; client CPU ms (ours: this process's CPU time; peers: the exporter process's
utime+stime from /proc, averaged over the reps); statements or commands the server ran
(PostgreSQL: statements in the server log with log_min_duration_statement=0; Redis: INFO
commandstats calls) and the server-side time they took; series served (peers without their
go_/process_/promhttp_ self-metrics). The ratio column is peer / ours for wall time.

    python bench/health.py [--reps 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from bench.floor import cpu_seconds  # noqa: E402
from exporter.collectors.postgres import PostgresCollector  # noqa: E402
from exporter.collectors.redis import RedisCollector  # noqa: E402
from exporter.config import PostgresTarget, RedisTarget  # noqa: E402
from tests.support.servers import free_port, stop_process, wait_for  # noqa: E402
from tests.support.topologies import pg_primary_with_standby, psql, redis_primary_replica  # noqa: E402

PEERS = {
    "postgres": "prometheus-postgres-exporter",
    "redis": "prometheus-redis-exporter",
}
_SELF_METRICS = ("go_", "process_", "promhttp_")
_DURATION = re.compile(r"duration: ([0-9.]+) ms\s+(statement|execute|parse|bind)")


def ensure_peers() -> None:
    missing = [pkg for pkg in PEERS.values() if shutil.which(pkg) is None]
    if missing:
        print(f"installing {' '.join(missing)} ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip


class PgLog:
    """Statements and their server-side time, from the server log between two marks."""

    def __init__(self, server) -> None:
        self.path = server.workdir / "log"
        psql(server, "ALTER SYSTEM SET log_min_duration_statement = 0")
        psql(server, "SELECT pg_reload_conf()")
        time.sleep(0.3)

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, offset: int) -> tuple[int, float]:
        with open(self.path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        hits = _DURATION.findall(text)
        statements = sum(1 for _, kind in hits if kind in ("statement", "execute"))
        return statements, sum(float(ms) for ms, _ in hits)


def redis_calls(port: int) -> tuple[int, float]:
    """Commands the server ran and their total usec (excluding this INFO itself)."""
    stats = redis_lib.Redis(port=port).info("commandstats")
    return (
        sum(v["calls"] for v in stats.values()),
        sum(v["usec"] for v in stats.values()) / 1000,
    )


def peer_series(text: str) -> int:
    return sum(
        1 for line in text.splitlines()
        if line and not line.startswith("#") and not line.startswith(_SELF_METRICS)
    )  # fmt: skip


def start_peer(kind: str, server) -> tuple[subprocess.Popen, str]:
    port = free_port()
    listen = f"--web.listen-address=127.0.0.1:{port}"
    if kind == "postgres":
        dsn = f"postgresql://postgres@127.0.0.1:{server.port}/postgres?sslmode=disable"
        args, env = [PEERS[kind], listen], {**os.environ, "DATA_SOURCE_NAME": dsn}
    else:
        args = [PEERS[kind], f"-redis.addr=redis://127.0.0.1:{server.port}", "-" + listen[2:]]
        env = dict(os.environ)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    wait_for(lambda: httpx.get(url, timeout=5).status_code == 200, timeout=30, what=PEERS[kind])
    return proc, url


async def time_ours(collector, reps: int) -> tuple[float, float, int]:
    for _ in range(2):
        await collector.collect()
    walls = []
    cpu0 = time.process_time()
    for _ in range(reps):
        t0 = time.perf_counter()
        samples = await collector.collect()
        walls.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / reps
    return statistics.median(walls) * 1000, cpu * 1000, len(samples)


def time_peer(proc: subprocess.Popen, url: str, reps: int) -> tuple[float, float, int]:
    with httpx.Client(timeout=30) as http:
        for _ in range(2):
            http.get(url)
        walls = []
        cpu0 = cpu_seconds(proc.pid)
        for _ in range(reps):
            t0 = time.perf_counter()
            text = http.get(url).text
            walls.append(time.perf_counter() - t0)
        cpu = (cpu_seconds(proc.pid) - cpu0) / reps
    return statistics.median(walls) * 1000, cpu * 1000, peer_series(text)


def cost_mark(kind: str, server):
    """Where the server's own accounting stands (log offset, or commandstats totals)."""
    if kind == "postgres":
        return (server.workdir / "log").stat().st_size
    return redis_calls(server.port)


def cost_since(kind: str, server, mark, cycles: int) -> tuple[float, float]:
    """(statements or commands, server ms) per cycle since `mark`."""
    if kind == "postgres":
        time.sleep(0.3)  # let the log catch up
        log = PgLog.__new__(PgLog)
        log.path = server.workdir / "log"
        n, ms = log.since(mark)
    else:
        calls, usec = redis_calls(server.port)
        n, ms = calls - mark[0] - 1, usec - mark[1]  # -1: the second INFO commandstats
    return n / cycles, ms / cycles


async def measure(kind: str, server, reps: int) -> list[tuple]:
    if kind == "postgres":
        PgLog(server)
        ours = PostgresCollector(PostgresTarget(name="main", dsn=server.extra["dsn"]), 5.0, 5.0)
    else:
        ours = RedisCollector(RedisTarget(name="main", url=server.extra["url"]), 5.0, 5.0)
    try:
        await time_ours(ours, 1)  # connect and prepare before counting server work
        mark = cost_mark(kind, server)
        result = await time_ours(ours, reps)
        rows = [("ours", kind, *result, *cost_since(kind, server, mark, reps + 2))]
    finally:
        await ours.close()
    proc, url = start_peer(kind, server)
    try:
        time_peer(proc, url, 1)
        mark = cost_mark(kind, server)
        result = time_peer(proc, url, reps)
        rows.append((PEERS[kind], kind, *result, *cost_since(kind, server, mark, reps + 2)))
    finally:
        stop_process(proc)
    return rows


def print_table(rows: list[tuple]) -> None:
    head = (
        "exporter",
        "server",
        "wall ms",
        "CPU ms",
        "series",
        "stmts/cmds",
        "server ms",
        "wall x",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    ours = {r[1]: r for r in rows if r[0] == "ours"}
    for name, kind, wall, cpu, series, n, ms in rows:
        ratio = wall / ours[kind][2]
        print(
            f"| {name} | {kind} | {wall:.2f} | {cpu:.2f} | {series} | {n:.0f} | {ms:.2f} | {ratio:.1f} |"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    ensure_peers()
    rows = []
    with pg_primary_with_standby() as (primary, _standby):
        psql(primary, "CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 10000) g")
        rows += await measure("postgres", primary, args.reps)
    with redis_primary_replica() as (primary, _replica):
        r = redis_lib.Redis(port=primary.port)
        for i in range(100):
            r.set(f"k{i}", i, ex=3600 if i % 2 else None)
        rows += await measure("redis", primary, args.reps)
    print(f"one health cycle (ours) vs one scrape (peer), median of {args.reps}, loopback, "
          f"PostgreSQL primary with a standby + slot, Redis primary with a replica; ours sends "
          f"its statement / commands as ONE round trip, the peers one per statement/command")  # fmt: skip
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
