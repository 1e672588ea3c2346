"""Soak: does the exporter's memory stay flat under steady work?

Starts a redis-server and `python -m exporter serve` (1 s collection interval, a Redis queue,
the HTTPS metrics API with front-proxy client-certificate auth), then for `--minutes`:
queue churn (LPUSH/RPOP every 50 ms), a /metrics scrape every 100 ms (gzip, kept alive, as
Prometheus does), an external-metrics API call every second (kept alive, as the aggregator
does), and every 10 s the exporter's RSS, fds and threads from /proc.

Prints the RSS slope over the second half (least squares; goal under 5 KB/min), fds and
threads at start and end, and error counts. The peer: main before issue 15 grew ~48 KB/min
in the same 20-minute soak (quoted from the issue).

    python bench/soak.py [--minutes 20]    # on the production venv (see bench/serving.py)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from bench.metrics_api import PATH, config_text, make_pki  # noqa: E402
from bench.serving import production_python  # noqa: E402
from tests.support.servers import exporter_process, free_port, redis_server, wait_for  # noqa: E402

GOAL_KB_PER_MIN = 5.0
PEER_KB_PER_MIN = 48.0  # main before issue 15, 20-minute soak (issue 15)
KEY = "bench:jobs:gpu"


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(RSS KB, open fds, threads) of a process."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return float(rss), len(os.listdir(f"/proc/{pid}/fd")), threads


def slope_kb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, KB) in KB per minute."""
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    cov = sum((t - mx) * (v - my) for t, v in points)
    return cov / var * 60 if var else 0.0


async def soak(args, pid: int, http: int, https: int, ctx, redis_url: str) -> dict:
    end = time.monotonic() + args.minutes * 60
    errors = {"scrape": 0, "api": 0, "churn": 0}
    counts = {"scrape": 0, "api": 0, "churn": 0}
    samples: list[tuple[float, float, int, int]] = []
    r = aioredis.Redis.from_url(redis_url)

    async def every(period: float, name: str, fn) -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                await fn()
                counts[name] += 1
            except Exception:
                errors[name] += 1
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async with (
        httpx.AsyncClient(headers={"Accept-Encoding": "gzip"}, timeout=5) as scraper,
        httpx.AsyncClient(verify=ctx, headers={"X-Remote-User": "hpa"}, timeout=5) as api,
    ):

        async def scrape() -> None:
            (await scraper.get(f"http://127.0.0.1:{http}/metrics")).raise_for_status()

        async def call() -> None:
            (await api.get(f"https://127.0.0.1:{https}{PATH}")).raise_for_status()

        async def churn() -> None:
            if random.random() < 0.5:
                await r.lpush(KEY, *[f"job-{random.random()}" for _ in range(random.randint(1, 5))])
            else:
                await r.rpop(KEY, random.randint(1, 5))

        await asyncio.gather(
            every(0.1, "scrape", scrape),
            every(1.0, "api", call),
            every(0.05, "churn", churn),
            _sampler(end, pid, samples),
        )
    await r.aclose()
    return {"errors": errors, "counts": counts, "samples": samples}


async def _sampler(end: float, pid: int, samples: list) -> None:
    while time.monotonic() < end:
        rss, fds, threads = proc_stats(pid)
        samples.append((time.monotonic(), rss, fds, threads))
        await asyncio.sleep(10.0)
    rss, fds, threads = proc_stats(pid)
    samples.append((time.monotonic(), rss, fds, threads))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--venv", type=Path, default=Path("/tmp/bench-venv"),
                    help="the production install (pip install '.[server]')")  # fmt: skip
    ap.add_argument("--current-python", action="store_true",
                    help="run the exporter on this interpreter instead of --venv")  # fmt: skip
    args = ap.parse_args()
    python = sys.executable if args.current_python else production_python(args.venv)
    print(f"exporter on {python}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis:
        files, ctx = make_pki(Path(tmp))
        http, https = free_port(), free_port()
        text = config_text(http, https, redis.extra["url"], 1.0, files)
        with exporter_process(text, python=python) as exporter:
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{http}/readyz").status_code == 200,
                timeout=30,
                what="the exporter",
            )
            out = asyncio.run(soak(args, exporter.proc.pid, http, https, ctx, redis.extra["url"]))
    samples = out["samples"]
    t0 = samples[0][0]
    half = [(t - t0, rss) for t, rss, _, _ in samples if t - t0 >= (samples[-1][0] - t0) / 2]
    slope = slope_kb_per_min(half)
    first, last = samples[0], samples[-1]
    print(f"\nsoak: {args.minutes:g} min, 1 s collection, scrapes every 100 ms, API every 1 s")
    print(f"{'':<34} {'start':>10} {'end':>10}")
    print(f"{'RSS (MB)':<34} {first[1] / 1024:>10.1f} {last[1] / 1024:>10.1f}")
    print(f"{'open fds':<34} {first[2]:>10} {last[2]:>10}")
    print(f"{'threads':<34} {first[3]:>10} {last[3]:>10}")
    print(f"\n{'RSS slope, second half':<34} {slope:>9.1f} KB/min   (goal < {GOAL_KB_PER_MIN:g})")
    print(f"{'peer: main before issue 15':<34} {PEER_KB_PER_MIN:>9.1f} KB/min   (quoted, 20 min)")
    print(f"ratio to the goal: {slope / GOAL_KB_PER_MIN:.2f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ("scrape", "api", "churn"):
        print(
            f"{name + ' requests':<34} {out['counts'][name]:>10} ok {out['errors'][name]:>6} errors"
        )


if __name__ == "__main__":
    main()
