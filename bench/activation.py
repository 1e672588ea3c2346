"""Scale from zero: time from the first job in an empty queue to `IsActive` true at KEDA.

A real redis-server and a real `exporter serve` (collection interval `--interval`, 1 s by
default) with KEDA's client compiled from KEDA's own proto. Each trial empties the queue,
opens `StreamIsActive` (what KEDA's external-push trigger does), waits a random fraction of
an interval, LPUSHes one job, and times the moment the client receives `true`: our push.

The peers are KEDA polling `IsActive` every 30 s (its default `pollingInterval`) and every
5 s. A poller sees the job at its first tick after the exporter knows of it, so each trial's
poll latency is simulated from the same measured moment plus the wait for the poller's next
tick at a random (seeded) phase: 1000 phases per trial. The floor is the collection
interval's own expected wait (interval / 2, plus the collection itself).

    python bench/activation.py [--trials 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from tests.support.keda_client import connect, ref  # noqa: E402
from tests.support.servers import exporter_process, free_port, redis_server, wait_for  # noqa: E402

KEY = "bench:jobs:gpu"
POLLS = (30.0, 5.0)  # KEDA's default pollingInterval, and an eager one
PHASES = 1000


def config(redis_url: str, http: int, grpc: int, interval: float) -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}", grpc: "127.0.0.1:{grpc}"}}
collection: {{interval_seconds: {interval}, timeout_seconds: {interval / 2}}}
redis: [{{name: main, url: "{redis_url}"}}]
gpu: off
kubernetes: {{enabled: off}}
metrics_api: {{enabled: false}}
autoscaling: {{keda: {{plaintext: true}}}}
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    scale_to_zero: true
    queues: [{{name: jobs, kind: redis_list, key: "{KEY}"}}]
    scale_on: [{{metric: queue_depth, target_average_value: 2}}]
"""


def push_trials(grpc: str, r: redis_lib.Redis, trials: int, interval: float) -> list[float]:
    client = connect(grpc)
    meta = {"componentClass": "gpu", "metric": "queue_depth"}
    rng = random.Random(7)
    out = []
    for _ in range(trials):
        r.delete(KEY)
        wait_for(lambda: not client.IsActive(ref(**meta), timeout=5).result, what="idle")
        stream = client.StreamIsActive(ref(**meta))
        assert next(stream).result is False
        time.sleep(rng.uniform(0, interval))  # the job arrives at any point of a cycle
        t0 = time.perf_counter()
        r.lpush(KEY, "job")
        assert next(stream).result is True
        out.append(time.perf_counter() - t0)
        stream.cancel()
    client.close()
    r.delete(KEY)
    return out


def simulated_poll(visible: list[float], period: float) -> list[float]:
    """Latency of a poller with `period` at random phases, given when the value turned true."""
    rng = random.Random(11)
    out = []
    for seen in visible:
        for _ in range(PHASES):
            phase = rng.uniform(0, period)  # time from the push to the poller's next tick
            ticks = max(0, -(-(seen - phase) // period))  # ticks until one is after `seen`
            out.append(phase + ticks * period)
    return out


def row(name: str, values: list[float], push_mean: float) -> str:
    qs = statistics.quantiles(values, n=100)
    mean = statistics.fmean(values)
    return (
        f"| {name:<34} | {mean:8.3f} | {qs[49]:8.3f} | {qs[94]:8.3f} | {max(values):8.3f} "
        f"| {mean / push_mean:7.1f}x |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    with redis_server() as redis, tempfile.TemporaryDirectory():
        http, grpc = free_port(), free_port()
        with exporter_process(config(redis.extra["url"], http, grpc, args.interval)):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=1).status_code == 200,
                what="exporter ready",
            )
            r = redis_lib.Redis.from_url(redis.extra["url"])
            push = push_trials(f"127.0.0.1:{grpc}", r, args.trials, args.interval)
            r.close()
    mean = statistics.fmean(push)
    print(
        f"first job in an empty queue -> IsActive true at the client; {args.trials} trials, "
        f"collection interval {args.interval:g} s (seconds; ratio = mean / our push mean)\n"
    )
    print(f"| {'':<34} | {'mean':>8} | {'p50':>8} | {'p95':>8} | {'max':>8} | {'ratio':>8} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    rng = random.Random(3)
    floor = [rng.uniform(0, args.interval) for _ in range(PHASES)]
    print(row("floor: wait for next collection", floor, mean))
    print(row("our push (StreamIsActive)", push, mean))
    for period in POLLS:
        print(row(f"KEDA poll every {period:g} s (simulated)", simulated_poll(push, period), mean))
    print(
        f"\npush within one interval + 0.5 s in {sum(p <= args.interval + 0.5 for p in push)}"
        f"/{len(push)} trials"
    )


if __name__ == "__main__":
    main()
