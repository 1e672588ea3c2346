"""Collection time of the Redis queue collector for 1, 100 and 1000 queues on one target.

Starts its own redis-server on a free loopback port, fills every queue with a few jobs and
times `RedisQueuesCollector.collect()` (one pipelined round trip plus parsing into
samples). Two layouts: all plain lists (LLEN), and a mix of lists with a JSON age field,
scheduled-job sorted sets and consumer-group streams. As the peer, the same reads done the
naive way, one round trip per command. Goal: 1000 queues under 50 ms on loopback.

    python bench/queues.py [--reps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis as redis_lib  # noqa: E402

from exporter.collectors.queues import QueueRef, RedisQueuesCollector  # noqa: E402
from exporter.collectors.redis import connect  # noqa: E402
from exporter.config import RedisTarget, parse_queue  # noqa: E402

SIZES = (1, 100, 1000)
GOAL_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, int, str]:
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, port, workdir


def make_queues(r: redis_lib.Redis, layout: str, n: int) -> list[QueueRef]:
    """n queues with 5 jobs each; streams have 2 of them delivered but not acknowledged."""
    now = time.time()
    refs, pipe = [], r.pipeline(transaction=False)
    for i in range(n):
        kind = "redis_list" if layout == "lists" else ("redis_list", "redis_zset", "redis_stream")[i % 3]  # fmt: skip
        key = f"bench:{layout}:{n}:{i}"
        spec: dict = {"name": f"q{i}", "kind": kind, "key": key}
        if kind == "redis_list":
            for j in range(5):
                pipe.lpush(key, json.dumps({"id": j, "enqueued_at": now - 60 + j}))
            if layout == "mixed":
                spec["age_field"] = "enqueued_at"
        elif kind == "redis_zset":
            pipe.zadd(key, {f"job{j}": now - 60 + 30 * j for j in range(5)})
        else:
            spec["group"] = "workers"
            pipe.xgroup_create(key, "workers", id="0", mkstream=True)
            for j in range(5):
                pipe.xadd(key, {"job": j})
            pipe.xreadgroup("workers", "c1", {key: ">"}, count=2)
        refs.append(QueueRef(f"class{i % 3}", parse_queue(spec)))
    pipe.execute()
    return refs


async def time_pipelined(target: RedisTarget, refs: list[QueueRef], reps: int) -> list[float]:
    col = RedisQueuesCollector(target, refs, 5.0, 5.0)
    try:
        for _ in range(3):  # warm-up: connect, load the stream script
            samples = await col.collect()
        assert sum(1 for s in samples if s.spec.name == "queue_up" and s.value == 1) == len(refs)
        out = []
        for _ in range(reps):
            started = time.perf_counter()
            await col.collect()
            out.append((time.perf_counter() - started) * 1000)
        return out
    finally:
        await col.close()


async def time_sequential(target: RedisTarget, refs: list[QueueRef], reps: int) -> list[float]:
    """The peer: the same reads, one awaited command at a time."""
    client = connect(target, 5.0)
    out = []
    try:
        for rep in range(reps + 1):
            started = time.perf_counter()
            now = time.time()
            for ref in refs:
                q = ref.queue
                if q.kind == "redis_list":
                    await client.llen(q.key)
                    if q.age_field:
                        await client.lindex(q.key, -1)
                elif q.kind == "redis_zset":
                    await client.zcount(q.key, "-inf", now)
                    await client.zcard(q.key)
                    await client.zrange(q.key, 0, 0, withscores=True)
                else:
                    await client.xlen(q.key)
                    await client.xinfo_groups(q.key)
                    await client.xpending(q.key, q.group)
            if rep:  # the first pass only warms up the connection
                out.append((time.perf_counter() - started) * 1000)
        return out
    finally:
        await client.aclose()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    proc, port, workdir = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    target = RedisTarget(name="bench", url=url)
    r = redis_lib.Redis.from_url(url)
    rows = []
    medians_1000: list[float] = []
    try:
        for layout in ("lists", "mixed"):
            for n in SIZES:
                refs = make_queues(r, layout, n)
                piped = await time_pipelined(target, refs, args.reps)
                seq = await time_sequential(target, refs, max(3, args.reps // 5))
                rows.append((layout, n, piped, seq))
                if n == 1000:
                    medians_1000.append(statistics.median(piped))
    finally:
        r.close()
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"redis-server {port} on loopback, {args.reps} repetitions per row (ms)")
    print(f"{'layout':<7} {'queues':>6} | {'pipelined median':>16} {'p95':>7} | "
          f"{'sequential median':>17} {'p95':>7} | speed-up")  # fmt: skip
    for layout, n, piped, seq in rows:
        pm, sm = statistics.median(piped), statistics.median(seq)
        print(f"{layout:<7} {n:>6} | {pm:>16.2f} {p95(piped):>7.2f} | "
              f"{sm:>17.2f} {p95(seq):>7.2f} | {sm / pm:>6.1f}x")  # fmt: skip
    worst = max(medians_1000)
    verdict = "met" if worst < GOAL_MS else "MISSED"
    print(f"goal: 1000 queues under {GOAL_MS:g} ms (median, pipelined, worst layout): "
          f"{verdict} ({worst:.2f} ms); load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    return 0 if worst < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
