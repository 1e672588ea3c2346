"""Latency and freshness of the external metrics API, next to KEDA's default polling interval.

Starts a redis-server and `python -m exporter serve` (real queue collector, HTTPS listener with
front-proxy client-certificate authentication) on free loopback ports, then:

1. latency, next to the floor (bench/floor.py: a plain uvicorn app answering a fixed body
   with the same TLS settings, driven by the same client): 200 TLS connections (each authenticated with a front-proxy client certificate,
   kept alive) issue GET .../namespaces/platform/queue_depth?labelSelector=component_class=gpu
   back to back, so 200 requests are always in flight; p50/p99/max per request and req/s.
2. freshness: LPUSH jobs, then poll the API every 5 ms until the new depth shows; seconds
   from the change to the API, over several changes at random phases of the collection cycle.

The peer: KEDA's ScaledObject default `pollingInterval` of 30 s (a queue change reaches KEDA's
metric up to 30 s later, 15 s on average), quoted, since KEDA cannot run here.

    python bench/metrics_api.py [--requests 6000] [--interval 1] [--changes 12]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from bench.floor import floor_process, keep_alive, pct  # noqa: E402
from tests.support.pki import CA, client_context  # noqa: E402
from tests.support.servers import exporter_process, free_port, redis_server, wait_for  # noqa: E402

KEDA_POLLING_INTERVAL_S = 30.0
CONCURRENCY = 200
PATH = (
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"
    "?labelSelector=component_class%3Dgpu"
)


def config_text(http: int, https: int, redis_url: str, interval: float, pki: dict) -> str:
    return f"""
environment: dev
namespace: platform
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{https}"}}
collection: {{interval_seconds: {interval}, timeout_seconds: {min(interval, 2.0) * 0.8}}}
redis: [{{name: main, url: "{redis_url}"}}]
gpu: off
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    queues: [{{name: jobs-gpu, kind: redis_list, key: "bench:jobs:gpu"}}]
    scale_on: [{{metric: queue_depth, target_average_value: 2}}]
metrics_api:
  tls: {{cert_file: "{pki["cert"]}", key_file: "{pki["key"]}"}}
  authentication:
    requestheader_client_ca_file: "{pki["front_ca"]}"
    requestheader_allowed_names: [front-proxy-client]
"""


def make_pki(directory: Path) -> tuple[dict, ssl.SSLContext]:
    serving_ca, front_ca = CA("serving", directory), CA("front-proxy", directory)
    serving = serving_ca.issue("exporter", client=False, hosts=("127.0.0.1",))
    proxy = front_ca.issue("front-proxy-client", client=True)
    files = {"cert": serving.cert_path, "key": serving.key_path, "front_ca": front_ca.path,
             "ca": str(serving_ca.path), "client_cert": str(proxy.cert_path),
             "client_key": str(proxy.key_path)}  # fmt: skip
    return files, client_context(serving_ca.path, proxy)


REQUEST = (
    f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
    "X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\n"
    "X-Remote-Group: system:serviceaccounts\r\n\r\n"
).encode()


async def latency(port: int, ctx: ssl.SSLContext, total: int) -> tuple[list[float], float]:
    """200 kept-alive TLS connections issuing requests back to back (bench.floor's client)."""
    per_conn = max(1, total // CONCURRENCY)
    out: list[float] = []
    # handshakes first (not measured), then all connections fire together
    await asyncio.gather(*(keep_alive(port, ctx, REQUEST, 1, []) for _ in range(CONCURRENCY)))
    started = time.perf_counter()
    await asyncio.gather(*(keep_alive(port, ctx, REQUEST, per_conn, out) for _ in range(CONCURRENCY)))  # fmt: skip
    return out, time.perf_counter() - started


def freshness(base: str, ctx: ssl.SSLContext, r: redis_lib.Redis, changes: int, interval: float) -> list[float]:  # fmt: skip
    headers = {"X-Remote-User": "bench"}
    lags = []
    with httpx.Client(verify=ctx, headers=headers, timeout=5) as c:

        def depth() -> float:
            items = c.get(base + PATH).json()["items"]
            return float(items[0]["value"]) if items else -1

        for i in range(changes):
            time.sleep(random.uniform(0, interval))  # a random phase of the collection cycle
            want = r.llen("bench:jobs:gpu") + 1 + i
            r.lpush("bench:jobs:gpu", *[f"job-{i}-{j}" for j in range(1 + i)])
            changed = time.perf_counter()
            while depth() != want:
                time.sleep(0.005)
            lags.append(time.perf_counter() - changed)
    return lags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--interval", type=float, default=1.0, help="collection interval (s)")
    ap.add_argument("--changes", type=int, default=12)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis:
        files, ctx = make_pki(Path(tmp))
        http, https = free_port(), free_port()
        text = config_text(http, https, redis.extra["url"], args.interval, files)
        r = redis_lib.Redis.from_url(redis.extra["url"])
        r.delete("bench:jobs:gpu")
        with exporter_process(text) as exporter:
            base = f"https://127.0.0.1:{https}"
            try:
                wait_for(
                    lambda: httpx.get(
                        base + PATH, verify=ctx, headers={"X-Remote-User": "b"}
                    ).json()["items"],
                    timeout=30,
                    what="the exporter",
                )
            except TimeoutError:
                print(exporter.extra["log"].read_text(), file=sys.stderr)
                raise
            lat, wall = asyncio.run(latency(https, ctx, args.requests))
            with floor_process(floor_port := free_port(), files):
                floor, floor_wall = asyncio.run(latency(floor_port, ctx, args.requests))
            lags = freshness(base, ctx, r, args.changes, args.interval)

    ms = [x * 1000 for x in lat]
    fms = [x * 1000 for x in floor]
    print(
        f"\nexternal metrics API over TLS (front-proxy client cert), loopback, {CONCURRENCY} concurrent"
    )
    print(f"{'':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, v, w in (("this exporter", ms, wall), ("floor (uvicorn fixed body, same TLS)", fms, floor_wall)):  # fmt: skip
        print(f"{name:<34} {len(v):>9} {len(v) / w:>8.0f} {pct(v, 50):>8.1f} {pct(v, 99):>8.1f} {max(v):>8.1f}")  # fmt: skip
    print(f"{'this exporter / floor':<34} {'':>9} {(len(ms) / wall) / (len(fms) / floor_wall):>7.2f}x"
          f" {pct(ms, 50) / pct(fms, 50):>7.2f}x {pct(ms, 99) / pct(fms, 99):>7.2f}x")  # fmt: skip
    print(
        f"\nfreshness: Redis LPUSH -> visible in the API (collection interval {args.interval:g} s)"
    )
    print(f"{'':<32} {'median s':>9} {'max s':>7}")
    print(
        f"{'this exporter (snapshot source)':<32} {statistics.median(lags):>9.2f} {max(lags):>7.2f}"
    )
    print(
        f"{'KEDA default pollingInterval':<32} {KEDA_POLLING_INTERVAL_S / 2:>9.2f} "
        f"{KEDA_POLLING_INTERVAL_S:>7.2f}   (quoted: 30 s poll, change lands uniformly in it)"
    )
    print(
        "\nBoth then wait for the HPA controller's own sync period (15 s by default) before"
        " a replica count changes."
    )


# --- /metrics while a 20 MB PromQL answer is handled (issue 16) -----------------------------
async def _promql_stall(folder: Path) -> list[tuple[str, float, int]]:
    from tests.support.prometheus_standin import prometheus_standin
    from tests.support.promql_world import World, p99, promql_config, vector_body

    rows = []
    with prometheus_standin(folder) as standin:
        # the floor: the same /metrics probe with no PromQL answer in flight
        world = World(promql_config(standin.url))
        idle = []
        for _ in range(200):
            started = time.perf_counter()
            await world.http.get("/metrics")
            idle.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
        await world.close()
        rows.append(("no PromQL answer in flight (floor)", p99(idle), len(idle)))
        for label, body, caps in (
            ("20 MB, over the size cap (default 8 MiB)", vector_body(150_000, pad=40), {}),
            (
                "20 MB, 150k series: over the series cap",
                vector_body(150_000, pad=40),
                {"max_response_bytes": 64 << 20},
            ),
            (
                "20 MB, 10k series parsed whole, summed",
                vector_body(10_000, pad=2000),
                {"max_response_bytes": 64 << 20},
            ),
        ):
            standin.answer(body)
            world = World(promql_config(standin.url, **caps))
            lat, _ = await world.metrics_latencies_during("load")
            await world.close()
            rows.append((label, p99(lat), len(lat)))
    return rows


def promql_answer_stall() -> None:
    """Print /metrics p99 while the metrics API handles a 20 MB PromQL answer, next to the
    floor (the same probe with nothing in flight) and the ratio; the target is < 50 ms."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(_promql_stall(Path(tmp)))
    floor = rows[0][1]
    print("\n/metrics p99 (in process, probed every 5 ms) while a PromQL answer is handled")
    print(f"{'':<44} {'probes':>6} {'p99 ms':>7} {'x floor':>8}")
    for label, value, n in rows:
        print(f"{label:<44} {n:>6} {value * 1000:>7.1f} {value / floor:>8.1f}")
    print("target: p99 < 50 ms (issue 16)")


if __name__ == "__main__":
    main()
    promql_answer_stall()
