"""Basic auth that cannot starve anything and leaks nothing by timing, on real sockets: the
exporter's own HTTP server in process for the mechanics, and a real `exporter serve` with a
real Prometheus behind its PromQL-backed external metrics for the flood.

Issue 20's figures on `dd0d2a1`: 200 wrong passwords over 20 connections (cost 12) took
PromQL-backed external metrics on :6443 from p99 18.7 ms to 5,289 ms; unknown user 1.9 ms
against known user with a wrong password 348 ms; a changed `basic_auth_users` needed a
restart.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import threading
import time

import bcrypt
import httpx

from exporter.http.basic_auth import BasicAuth
from exporter.http.webconfig import WebConfigFile, load_web_config
from exporter.http_app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.pki import CA
from tests.support.servers import exporter_process, free_port, prometheus_server, wait_for
from tests.support.serving_harness import running

PASSWORD = b"s3cret-pw"
HASH12 = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=12))
HASH4 = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4))


def _app():
    snapshot = Snapshot()
    return create_app(snapshot, Runtime(snapshot, []))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0  # a machine booted a moment ago: nothing may need a large clock

    def __call__(self) -> float:
        return self.now


async def test_unknown_and_known_user_take_the_same_time():
    """Alternating, so load on the machine hits both alike; medians within 20 %."""
    app = BasicAuth(_app(), {"prometheus": HASH12}, failure_burst=100)
    timings: dict[str, list[float]] = {"unknown": [], "known": []}
    async with running(app) as (_server, port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            await c.get("/metrics", auth=("warm", "up"))  # the dummy hash is made by now
            for i in range(8):
                who = "unknown" if i % 2 else "known"
                user = "prometheus" if who == "known" else f"nobody{i}"
                started = time.perf_counter()
                resp = await c.get("/metrics", auth=(user, f"wrong{i}"))
                timings[who].append(time.perf_counter() - started)
                assert resp.status_code == 401
    unknown, known = (statistics.median(timings[k]) for k in ("unknown", "known"))
    print(f"unknown user {unknown * 1000:.0f} ms, known user wrong password {known * 1000:.0f} ms")
    assert abs(unknown - known) <= 0.2 * max(unknown, known), timings


async def test_a_full_queue_is_503_at_once_and_failures_are_rate_limited():
    clock = Clock()
    app = BasicAuth(
        _app(), {"prometheus": HASH4}, max_queued=2, failure_burst=3, failure_refill_seconds=5,
        clock=clock,
    )  # fmt: skip
    async with running(app) as (_server, port):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as good:
            assert (await good.get("/metrics", auth=("prometheus", "s3cret-pw"))).status_code == 200

            async def wrong(i: int) -> int:
                async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                    return (await c.get("/metrics", auth=("prometheus", f"no{i}"))).status_code

            # hold the bcrypt thread: no check can finish until `gate` is set, so whatever is
            # answered before that was answered without waiting for one
            gate = threading.Event()
            app._executor.submit(gate.wait)
            tasks = [asyncio.create_task(wrong(i)) for i in range(8)]
            try:
                async with asyncio.timeout(30):
                    while sum(t.done() for t in tasks) < 6:
                        await asyncio.sleep(0.01)
                assert sorted(t.result() for t in tasks if t.done()) == [503] * 6
            finally:
                gate.set()
            assert sorted(await asyncio.gather(*tasks)) == [401, 401, 503, 503, 503, 503, 503, 503]
            # one more failure spends the last token; then 429 before any bcrypt work
            assert await wrong(9) == 401
            assert await wrong(10) == 429
            # a remembered success is served meanwhile (and never waits for the executor)
            ok = await good.get("/metrics", auth=("prometheus", "s3cret-pw"))
            assert ok.status_code == 200
            assert (await good.get("/healthz")).status_code == 200
            clock.now += 5.0  # one token back
            assert await wrong(11) == 401


async def test_changed_users_take_effect_without_restart(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text(f'basic_auth_users: {{alice: "{HASH4.decode()}"}}\n')
    clock = Clock()
    source = WebConfigFile(str(path), load_web_config(str(path)), clock=clock)
    app = BasicAuth(_app(), source.users, clock=clock)
    async with running(app) as (_server, port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            assert (await c.get("/metrics", auth=("alice", "s3cret-pw"))).status_code == 200
            other = bcrypt.hashpw(b"b0b-pw", bcrypt.gensalt(rounds=4)).decode()
            path.write_text(f'basic_auth_users: {{bob: "{other}"}}\n')
            clock.now += 1.0
            # alice's remembered success is forgotten with her entry
            assert (await c.get("/metrics", auth=("alice", "s3cret-pw"))).status_code == 401
            assert (await c.get("/metrics", auth=("bob", "b0b-pw"))).status_code == 200
            path.write_text("basic_auth_users: {bob: plain-text}\n")  # a bad edit
            clock.now += 1.0
            assert (await c.get("/metrics", auth=("bob", "b0b-pw"))).status_code == 200
            path.write_text("{}\n")  # users removed: open again, as with no users at start
            clock.now += 1.0
            assert (await c.get("/metrics")).status_code == 200
    assert source.reloads == 2


# --- the flood against a real exporter -----------------------------------------------------
def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def test_bcrypt_flood_leaves_promql_metrics_fast(tmp_path):
    """200 wrong passwords (cost 12) over 20 connections to :9464 while an HPA-like client
    reads a PromQL-backed external metric from :6443: its p99 stays under 50 ms."""
    web = tmp_path / "web.yml"
    web.write_text(f'basic_auth_users: {{prometheus: "{HASH12.decode()}"}}\n')
    ca = CA("flood", tmp_path)
    tls = ca.issue("exporter", client=False, hosts=("127.0.0.1",))
    prom_port = free_port()
    http, https = free_port(), free_port()
    with prometheus_server([f"127.0.0.1:{prom_port}"]) as prom:
        config = f"""
environment: dev
namespace: platform
listen:
  http: "127.0.0.1:{http}"
  https: "127.0.0.1:{https}"
  web_config_file: "{web}"
gpu: "off"
kubernetes: {{enabled: off}}
prometheus: {{url: "{prom.extra["url"]}"}}
metrics_api:
  tls: {{cert_file: "{tls.cert_path}", key_file: "{tls.key_path}"}}
  external: [{{name: scrape_targets_up, source: promql, query: "sum(up)"}}]
"""
        url = f"https://127.0.0.1:{https}/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/scrape_targets_up"
        with (
            exporter_process(config),
            httpx.Client(verify=ssl.create_default_context(cafile=str(ca.path)), timeout=30) as hpa,
        ):
            wait_for(lambda: _ok(hpa, url), timeout=30, what="the PromQL-backed metric")
            baseline = [_timed(hpa, url) for _ in range(200)]
            flooding, during = threading.Event(), []

            def measure() -> None:
                while flooding.is_set():
                    during.append(_timed(hpa, url))

            # the attackers in a process of their own (no GIL shared with the prober), set up
            # before the measured window opens
            attack = subprocess.Popen(
                [sys.executable, "-c", ATTACKER, f"http://127.0.0.1:{http}/metrics"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                assert attack.stdout.readline() == "ready\n"
                flooding.set()
                prober = threading.Thread(target=measure)
                prober.start()
                out, _ = attack.communicate("go\n", timeout=300)
                while len(during) < 200:  # at least as many samples as the baseline
                    time.sleep(0.05)
            finally:
                flooding.clear()
                attack.kill()
                attack.wait()
            prober.join()
            codes = json.loads(out)
            good = httpx.get(
                f"http://127.0.0.1:{http}/metrics", auth=("prometheus", PASSWORD.decode())
            )
    counts = {code: codes.count(code) for code in sorted(set(codes))}
    print(
        f"flood answers {counts}; external metric p99 {_p99(baseline) * 1000:.1f} ms before, "
        f"{_p99(during) * 1000:.1f} ms during ({len(during)} samples)"
    )
    assert len(codes) == 200 and set(codes) <= {401, 429, 503}
    assert _p99(during) < 0.050
    # the flood came from 127.0.0.1 too: a right password after it waits out the limiter
    assert good.status_code in (200, 429)


# 20 connections, 10 wrong passwords each, all at once
ATTACKER = """
import json, sys, httpx
from concurrent.futures import ThreadPoolExecutor
def attacker(i):
    with httpx.Client(timeout=120) as c:
        return [c.get(sys.argv[1], auth=("prometheus", f"wrong-{i}-{j}")).status_code
                for j in range(10)]
pool = ThreadPoolExecutor(20)
list(pool.map(lambda i: None, range(20)))  # threads started
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps([c for got in pool.map(attacker, range(20)) for c in got]))
"""


def _ok(client: httpx.Client, url: str) -> bool:
    resp = client.get(url)
    return resp.status_code == 200 and bool(resp.json()["items"])


def _timed(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    resp = client.get(url)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    return elapsed
