"""Scale from zero: time from the first job in an empty queue to `IsActive` true at KEDA.

A real PostgreSQL, a real redis-server and a real `exporter serve` on the embedded default
configuration (bench/embedded.py: the default's schedules, classes and queues, only the
addresses changed; `autoscaling.engine: keda`, the scaler on listen.grpc over TLS), with
KEDA's client compiled from KEDA's own proto. First the exporter idles (nothing calls it)
and its own CPU seconds are read from /proc, beside the load average. Then each trial
empties the gpu class's queue `jobs:gpu`, opens `StreamIsActive` (what KEDA's
external-push trigger does), waits a random fraction of a queue interval, LPUSHes one job,
and times the moment the client receives `true`: our push.

The peers are KEDA polling `IsActive` every 30 s (its default `pollingInterval`) and every
5 s. A poller sees the job at its first tick after the exporter knows of it, so each trial's
poll latency is simulated from the same measured moment plus the wait for the poller's next
tick at a random (seeded) phase: 1000 phases per trial. The floor is the queue collection
interval's own wait (uniform over one interval).

    python bench/activation.py [--trials 20] [--idle 30]
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

from bench.embedded import embedded_default, idle_cpu, idle_report, pki, schedules  # noqa: E402
from tests.support.keda_client import connect, ref  # noqa: E402
from tests.support.servers import (  # noqa: E402
    exporter_process,
    postgres_server,
    redis_server,
    wait_for,
)

KEY = "jobs:gpu"  # the embedded default's gpu queue (scale_to_zero, activation_threshold 0)
POLLS = (30.0, 5.0)  # KEDA's default pollingInterval, and an eager one
PHASES = 1000
GOAL_P95 = 1.2  # issue 23


def push_trials(client, r: redis_lib.Redis, trials: int, interval: float) -> list[float]:
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
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    args = ap.parse_args()
    interval, health = schedules()
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as pg, redis_server() as redis:
        files = pki(Path(tmp))
        text, ports = embedded_default(pg.extra["dsn"], redis.extra["url"], files, keda=True)
        with exporter_process(text) as exporter:
            try:
                wait_for(
                    lambda: (
                        httpx.get(f"http://127.0.0.1:{ports['http']}/readyz", timeout=1).status_code
                        == 200
                    ),
                    timeout=60,
                    what="exporter ready",
                )
            except TimeoutError:
                print(exporter.extra["log"].read_text(), file=sys.stderr)
                raise
            time.sleep(2)  # start-up work (certificates, first collections) is not idling
            idle = idle_cpu(exporter.proc.pid, args.idle)
            r = redis_lib.Redis.from_url(redis.extra["url"])
            client = connect(f"127.0.0.1:{ports['grpc']}", files["ca_pem"])
            push = push_trials(client, r, args.trials, interval)
            r.close()
    mean = statistics.fmean(push)
    p95 = statistics.quantiles(push, n=100)[94]
    print(
        f"first job in an empty queue -> IsActive true at the client; {args.trials} trials, "
        f"embedded default (queue interval {interval:g} s, health {health:g} s; seconds; "
        f"ratio = mean / our push mean)\n"
    )
    print(f"| {'':<34} | {'mean':>8} | {'p50':>8} | {'p95':>8} | {'max':>8} | {'ratio':>8} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    rng = random.Random(3)
    floor = [rng.uniform(0, interval) for _ in range(PHASES)]
    print(row("floor: wait for next queue read", floor, mean))
    print(row("our push (StreamIsActive)", push, mean))
    for period in POLLS:
        print(row(f"KEDA poll every {period:g} s (simulated)", simulated_poll(push, period), mean))
    print(
        f"\nour push p95 {p95:.3f} s (goal <= {GOAL_P95:g} s: {'met' if p95 <= GOAL_P95 else 'NOT met'};"
        f" issue 23 measured 1.7 s in one trial at the old 5 s default)"
    )
    print(idle_report(idle))


if __name__ == "__main__":
    main()
