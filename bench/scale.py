"""How the exporter's cost grows with the platform: 10, 100, 1000 and 2000 component classes,
and 2000 classes holding 10,000 queues.

For each size it writes the embedded default config with N classes (one Redis list queue
each, 3 jobs per queue; no PostgreSQL, GPU off, no Kubernetes), starts `exporter serve` on
free loopback ports against its own redis-server, and measures, nobody scraping or looking
at the status page unless said:

- idle CPU (% of a core, from /proc over a few collection intervals) and RSS;
- the queue collection time (`exporter_collector_duration_seconds{collector="redis_queues"}`);
- `/metrics` render time (median of 5, after one cold render) and size;
- `/status.json` time, first look (builds every class's row) and warm;
- event-loop lag max: `/healthz` round trips every 50 ms over a kept-alive connection for
  a few intervals (the slowest minus the fastest: the longest the loop was held);
- the metrics API under the HPA controller's pattern: every class's HPA asks once per 15 s
  (`queue_depth`, `component_class=<class>`), each at its own offset in the period as the
  controller's work queue spreads them, over a few kept-alive TLS connections (the
  aggregator's). p50/p99 are compared with the same API at 10 classes (the floor) and
  printed as the ratio; below 300 classes each HPA asks more than once per period, so
  every p99 rests on at least 300 answers.

CPU per class per interval (idle CPU seconds / intervals / classes) is printed so its
flatness from 100 to 2000 classes can be read off. The intervals come from the config the
exporter runs (`collection`), not from constants here. The machine's load average is
printed: on a shared machine the absolute figures move with it, the ratios less.

    python bench/scale.py [--sizes 10,100,1000,2000] [--idle 15] [--hpa-period 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis as redis_lib  # noqa: E402
import yaml  # noqa: E402

from bench.floor import close, pct, request_bytes  # noqa: E402
from bench.queues import free_port, start_redis  # noqa: E402
from exporter.config import Config, load_config  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HPA_CONNECTIONS = 4  # the aggregator keeps a few connections to an APIService backend
MIN_SAMPLES = 300


def scale_config(n: int, queues_per_class: int, redis_port: int) -> dict:
    """The embedded default with n classes (the default's own settings otherwise)."""
    data = load_config(None, environ={}).model_dump(mode="json", exclude_defaults=True)
    data.update(
        gpu="off",
        postgres=[],
        redis=[{"name": "main", "url": f"redis://127.0.0.1:{redis_port}/0"}],
        listen={"http": f"127.0.0.1:{free_port()}", "https": f"127.0.0.1:{free_port()}"},
        kubernetes={"enabled": "off"},
    )
    data["component_classes"] = [
        {
            "name": f"c{i}",
            "workload": {"kind": "Deployment", "name": f"component-c{i}"},
            "max_replicas": 10,
            "queues": [
                {
                    "name": f"jobs:c{i}:{q}",
                    "kind": "redis_list",
                    "target": "main",
                    "key": f"jobs:c{i}:{q}",
                }
                for q in range(queues_per_class)
            ],  # fmt: skip
            "scale_on": [{"metric": "queue_depth", "target_average_value": 10}],
        }
        for i in range(n)
    ]
    Config.model_validate(data)  # what we run must load
    return data


def fill_queues(r: redis_lib.Redis, data: dict) -> int:
    r.flushdb()
    pipe, count = r.pipeline(transaction=False), 0
    for cls in data["component_classes"]:
        for q in cls["queues"]:
            pipe.rpush(q["key"], "a", "b", "c")
            count += 1
    pipe.execute()
    return count


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of the process in ns (/proc schedstat: no 10 ms ticks, so
    0.3 % of a core over 15 s is measured, not rounded to a few ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended meanwhile
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Conn:
    """One kept-alive HTTP/1.1 connection (plain or TLS)."""

    def __init__(self, port: int, ctx: ssl.SSLContext | None) -> None:
        self.port, self.ctx = port, ctx

    async def __aenter__(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ctx, limit=1 << 26
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await close(self.writer)

    async def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.writer.write(request_bytes(path))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await self.reader.readexactly(int(m.group(1)) if m else 0)
        return status, body, time.perf_counter() - started


def metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the exporter exited")
        try:
            async with Conn(port, None) as c:
                status, _, _ = await c.get("/readyz")
                if status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the exporter did not become ready")


async def loop_lag(port: int, seconds: float) -> float:
    """Slowest minus fastest /healthz round trip, one every 50 ms: how long the loop was held."""
    times = []
    async with Conn(port, None) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            _, _, dt = await c.get("/healthz")
            times.append(dt)
            await asyncio.sleep(0.05)
    return max(times) - min(times)


async def hpa_pattern(port: int, classes: list[str], period: float) -> list[float]:
    """Every class's HPA asks once in `period`, at a random offset (the controller's queue
    spreads its HPAs over the sync period); latency of each answer."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # its self-signed certificate
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    conns = [Conn(port, ctx) for _ in range(HPA_CONNECTIONS)]
    for c in conns:
        await c.__aenter__()
        pool.put_nowait(c)
    rng = random.Random(24)
    # A handful of classes give too few answers for a p99: each of them then asks several
    # times per period (still a trickle), so every run has at least MIN_SAMPLES answers.
    asks = -(-MIN_SAMPLES // len(classes))
    schedule = sorted((rng.uniform(0, period), cls) for cls in classes for _ in range(asks))
    out: list[float] = []
    errors: list[int] = []

    async def ask(cls: str, due: float) -> None:
        conn = await pool.get()
        try:
            path = (
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"
                f"?labelSelector=component_class%3D{cls}"
            )
            status, _, _ = await conn.get(path)
            if status != 200:
                errors.append(status)
            out.append(time.perf_counter() - due)  # from when the HPA wanted to ask
        finally:
            pool.put_nowait(conn)

    start = time.perf_counter()
    tasks = []
    for offset, cls in schedule:
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(ask(cls, time.perf_counter())))
    await asyncio.gather(*tasks)
    for c in conns:
        await c.__aexit__()
    if errors:
        raise RuntimeError(f"{len(errors)} metrics-API answers were not 200: {errors[:5]}")
    return out


async def measure(n: int, queues_per_class: int, redis_port: int, args) -> dict:
    r = redis_lib.Redis(port=redis_port)
    data = scale_config(n, queues_per_class, redis_port)
    queues = fill_queues(r, data)
    config = Config.model_validate(data)
    interval = config.collection.queues.interval_seconds  # the queues' and the board's loop
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    http = port_of(data["listen"]["http"])
    https = port_of(data["listen"]["https"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "serve", "--config", str(path)],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_ready(http, proc)
        await asyncio.sleep(interval * 2 + 1)  # the board's first syncs, caches warm
        # idle: nobody scraping, nobody looking
        cpu0, t0 = cpu_ns(proc.pid), time.monotonic()
        await asyncio.sleep(args.idle)
        cpu = (cpu_ns(proc.pid) - cpu0) / 1e9 / (time.monotonic() - t0)
        rss = rss_mb(proc.pid)
        lag = await loop_lag(http, args.lag)
        async with Conn(http, None) as c:
            _, body, cold = await c.get("/metrics")
            renders = [(await c.get("/metrics"))[2] for _ in range(5)]
            text = body.decode()
            collect = metric_value(
                text, "exporter_collector_duration_seconds", collector="redis_queues"
            )
        # the HPAs ask while nobody looks at the status page (a look makes the board build
        # rows for a minute)
        names = [c["name"] for c in data["component_classes"]]
        lag_task = asyncio.create_task(loop_lag(http, args.hpa_period))
        latencies = await hpa_pattern(https, names, args.hpa_period)
        hpa_lag = await lag_task  # the loop while the HPAs ask: tells the exporter's stalls
        # from the machine's (a slow answer with an idle loop waited for a CPU)
        async with Conn(http, None) as c:
            _, _, first_look = await c.get("/status.json")
            warm = [(await c.get("/status.json"))[2] for _ in range(3)]
        return {
            "classes": n,
            "queues": queues,
            "interval": interval,
            "cpu": cpu,
            "cpu_per_class_us": cpu * interval / n * 1e6,
            "rss": rss,
            "collect_ms": None if collect is None else collect * 1000,
            "metrics_cold_ms": cold * 1000,
            "metrics_ms": statistics.median(renders) * 1000,
            "metrics_kb": len(body) / 1024,
            "status_first_ms": first_look * 1000,
            "status_ms": statistics.median(warm) * 1000,
            "lag_ms": lag * 1000,
            "hpa_lag_ms": hpa_lag * 1000,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "requests": len(latencies),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        r.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,1000,2000")
    ap.add_argument("--queues", type=int, default=10_000, help="queues in the last run")
    ap.add_argument("--idle", type=float, default=15.0, help="idle CPU window (s)")
    ap.add_argument("--lag", type=float, default=8.0, help="loop-lag probe window (s)")
    ap.add_argument("--hpa-period", type=float, default=15.0)
    args = ap.parse_args()
    runs = [(int(s), 1) for s in args.sizes.split(",")]
    if args.queues:
        biggest = max(n for n, _ in runs)
        runs.append((biggest, max(1, args.queues // biggest)))
    redis_proc, redis_port, redis_dir = start_redis()
    rows = []
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
              f"on {os.cpu_count()} CPUs")  # fmt: skip
        for n, per in runs:
            rows.append(asyncio.run(measure(n, per, redis_port, args)))
            print(f"  {n} classes / {rows[-1]['queues']} queues done, load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(redis_dir, ignore_errors=True)
    floor = next((r for r in rows if r["classes"] == 10), rows[0])
    print(f"\ninterval {rows[0]['interval']:g} s (from the config run); HPA pattern: every "
          f"class once per {args.hpa_period:g} s over {HPA_CONNECTIONS} TLS connections; "
          f"floor = the same API at {floor['classes']} classes")  # fmt: skip
    for r in rows:  # over the floor's fixed cost (process metrics, the loop itself)
        r["marginal_us"] = (
            (r["cpu"] - floor["cpu"]) * r["interval"] / (r["classes"] - floor["classes"]) * 1e6
            if r["classes"] > floor["classes"]
            else float("nan")
        )
    head = ("| classes | queues | idle CPU | CPU/class/interval (over 10) | RSS | queue collection | "
            "/metrics (cold) | /metrics size | /status.json first / warm | loop lag max idle / HPA | "
            "API p50 | API p99 | p99 vs floor |")  # fmt: skip
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        collect = "-" if r["collect_ms"] is None else f"{r['collect_ms']:.1f} ms"
        print(
            f"| {r['classes']} | {r['queues']} | {r['cpu'] * 100:.1f} % | "
            f"{r['cpu_per_class_us']:.0f} us ({r['marginal_us']:.0f} us) | {r['rss']:.0f} MB | "
            f"{collect} | "
            f"{r['metrics_ms']:.1f} ms ({r['metrics_cold_ms']:.1f}) | {r['metrics_kb']:.0f} KB | "
            f"{r['status_first_ms']:.1f} / {r['status_ms']:.1f} ms | "
            f"{r['lag_ms']:.1f} / {r['hpa_lag_ms']:.1f} ms | "
            f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
            f"{r['p99_ms'] / floor['p99_ms']:.2f}x |"
        )
    one_queue = [r for r in rows if r["classes"] >= 100 and r["queues"] == r["classes"]]
    for key, what in (("cpu_per_class_us", "all of it"), ("marginal_us", "over the floor's")):
        flat = [r[key] for r in one_queue]
        if len(flat) > 1:
            print(f"CPU per class per interval ({what}), {one_queue[0]['classes']}.."
                  f"{one_queue[-1]['classes']} classes: max/min = {max(flat) / min(flat):.2f} "
                  "(goal: within 2x)")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
