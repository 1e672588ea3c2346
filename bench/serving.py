"""Serving: latency against a floor, connection memory, burst recovery, start-up time.

Starts a redis-server, `python -m exporter serve` (a real Redis collector and queue, the HTTPS
metrics API with front-proxy client-certificate authentication) and the floor (bench/floor.py:
a plain uvicorn app answering a fixed body, once over HTTP and once with the same TLS
settings), all on loopback, then in one run:

1. latency, for /metrics (HTTP) and the external metrics API (HTTPS, client certificate),
   each next to its floor: one kept-alive client, fresh connections (connect + handshake +
   one request); p50/p99 and p99 ratio to the floor.
2. 200 kept-alive connections (the kube-aggregator's way), driven by bench/loadgen.py in two
   separate client processes: open loop at `--rate` req/s in all (each connection at its own
   pace; latency from when a request was due, the client's own lateness shown), and closed
   loop (saturated throughput, req/s); ours and the floor in the same run, with ratios.
3. memory and start-up, on a second exporter on the embedded default config (only the
   listen ports changed, so parallel runs do not collide): time from process start to the
   first /metrics answer; idle RSS; RSS with 2000 idle connections (1000 plain on the HTTP
   listener, 1000 TLS on the HTTPS one, each after one request) and how many the exporter
   held; RSS 60 s after a 500-concurrent burst of fresh TLS requests. Start-up and idle RSS
   are also shown without `listen.grpc` (the KEDA scaler's gRPC cost) and on the test venv.

Everything runs on the production install by default: a venv with `pip install '.[server]'`
(the server extra alone, as the Dockerfile installs it; built once at `--venv` and reused while
pyproject.toml is unchanged), this worktree's code on PYTHONPATH. The load average is printed
at the start and the end: the machine may be shared.

    python bench/serving.py [--requests 2000] [--rate 1500] [--seconds 10] [--settle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from bench.floor import floor_process, fresh, keep_alive, pct, request_bytes  # noqa: E402
from bench.loadgen import LoadResult, run_load  # noqa: E402
from bench.metrics_api import PATH, config_text, make_pki  # noqa: E402
from tests.support.servers import exporter_process, free_port, redis_server, wait_for  # noqa: E402

API_HEADERS = {
    "Accept": "application/json",
    "X-Remote-User": "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "X-Remote-Group": "system:serviceaccounts",
}
STARTS = 5
REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = 200
METRICS = request_bytes("/metrics", {"Accept": "text/plain"})
API = request_bytes(PATH, API_HEADERS)


async def scenarios(port: int, ctx: ssl.SSLContext | None, req: bytes, n: int) -> dict:
    """keep-alive single client, fresh connections, 200 concurrent keep-alive: ms lists."""
    out: dict[str, list[float]] = {}
    warm: list[float] = []
    await keep_alive(port, ctx, req, 200, warm)
    single: list[float] = []
    await keep_alive(port, ctx, req, n, single)
    out["keep-alive, 1 client"] = single
    new: list[float] = []
    for _ in range(max(50, n // 8)):
        await fresh(port, ctx, req, new)
    out["fresh connections"] = new
    return {k: [x * 1000 for x in v] for k, v in out.items()}


def latency_table(title: str, subject: dict, floor: dict) -> None:
    print(f"\n{title}")
    print(
        f"{'':<27} {'p50 ms':>8} {'p99 ms':>8} {'floor p50':>10} {'floor p99':>10} {'p99/floor':>10}"
    )
    for name, values in subject.items():
        f = floor[name]
        print(
            f"{name:<27} {pct(values, 50):>8.2f} {pct(values, 99):>8.2f} {pct(f, 50):>10.2f}"
            f" {pct(f, 99):>10.2f} {pct(values, 99) / pct(f, 99):>10.2f}"
        )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def load_table(title: str, rate: float, rows: dict[str, tuple[LoadResult, LoadResult]]) -> None:
    print(f"\n{title}")
    print(f"{'':<34} {'ours':>9} {'floor':>9} {'ours/floor':>11}")
    for name, (ours, floor) in rows.items():
        if name.startswith("open"):
            for label, p in (("p50 ms", 50), ("p99 ms", 99)):
                a, b = pct(ours.latencies_ms, p), pct(floor.latencies_ms, p)
                print(f"{name + ' ' + label:<34} {a:>9.2f} {b:>9.2f} {a / b:>11.2f}")
            a, b = pct(ours.lateness_ms, 99), pct(floor.lateness_ms, 99)
            print(f"{'  client lateness p99 ms':<34} {a:>9.2f} {b:>9.2f} {'':>11}")
            a, b = ours.throughput, floor.throughput
            print(f"{'  answered req/s (offered ' + format(rate, 'g') + ')':<34} {a:>9.0f} {b:>9.0f}"
                  f" {'':>11}")  # fmt: skip
        else:
            a, b = ours.throughput, floor.throughput
            print(f"{name + ' req/s':<34} {a:>9.0f} {b:>9.0f} {a / b:>11.2f}")
            a, b = pct(ours.latencies_ms, 99), pct(floor.latencies_ms, 99)
            print(f"{'  p99 ms at saturation':<34} {a:>9.2f} {b:>9.2f} {a / b:>11.2f}")
        errors = ours.errors + floor.errors
        if errors:
            print(f"{'  errors (ours + floor)':<34} {errors:>9}")


def many_connections(port: int, floor: int, req: bytes, tls: dict | None, args) -> dict:
    """Open loop at args.rate, then closed loop, over 200 kept-alive connections; ours, floor."""
    if tls:  # the client's files only, as strings for the generator processes
        tls = {k: str(tls[k]) for k in ("ca", "client_cert", "client_key")}
    rows = {}
    open_name = f"open loop, {CONNECTIONS} conns,"
    for name, rate, seconds in ((open_name, args.rate, args.seconds), ("closed loop", 0, 5.0)):
        rows[name] = tuple(run_load(p, req, CONNECTIONS, rate, seconds, tls) for p in (port, floor))
    return rows


def production_python(venv: Path) -> str:
    """The venv's python after `pip install '.[server]'` (what the Dockerfile installs);
    built once, rebuilt when pyproject.toml changes. The worktree's code runs in it through
    PYTHONPATH, so only the installed third-party packages come from the venv."""
    stamp = venv / ".pyproject-sha256"
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if not stamp.exists() or stamp.read_text() != want:
        print(f"building {venv} (pip install '.[server]') ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{REPO}[server]"], check=True)
        stamp.write_text(want)
    return str(python)


def latency_part(args) -> None:
    python = args.python
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis:
        files, ctx = make_pki(Path(tmp))
        http, https, floor_http, floor_https = free_port(), free_port(), free_port(), free_port()
        text = config_text(http, https, redis.extra["url"], 1.0, files)
        with (
            exporter_process(text, python=python) as exporter,
            floor_process(floor_http, python=python),
            floor_process(floor_https, files, python=python),
        ):
            try:
                wait_for(lambda: _status(https, ctx, API) == 200, timeout=30, what="exporter")
            except TimeoutError:
                print(exporter.extra["log"].read_text(), file=sys.stderr)
                raise
            n = args.requests
            m = asyncio.run(scenarios(http, None, METRICS, n))
            fm = asyncio.run(scenarios(floor_http, None, METRICS, n))
            a = asyncio.run(scenarios(https, ctx, API, n))
            fa = asyncio.run(scenarios(floor_https, ctx, API, n))
            mm = many_connections(http, floor_http, METRICS, None, args)
            ma = many_connections(https, floor_https, API, files, args)
    latency_table("/metrics over HTTP vs the floor (uvicorn, fixed body, HTTP)", m, fm)
    latency_table("external metrics API over TLS (client cert) vs the floor (uvicorn, same TLS)", a, fa)  # fmt: skip
    load_table(f"{CONNECTIONS} kept-alive connections, /metrics over HTTP (ours vs floor)", args.rate, mm)  # fmt: skip
    load_table(f"{CONNECTIONS} kept-alive connections, external metrics API over TLS (ours vs floor)", args.rate, ma)  # fmt: skip


def _status(port: int, ctx, req: bytes) -> int:
    async def once() -> int:
        out: list[float] = []
        try:
            await fresh(port, ctx, req, out)
        except (OSError, RuntimeError, asyncio.IncompleteReadError):
            return 0
        return 200

    return asyncio.run(once())


def default_config_text(http: int, https: int, grpc: int | None) -> str:
    """The embedded default with the listen ports moved (and `listen.grpc` off for None)."""
    data = yaml.safe_load(resources.files("exporter").joinpath("default_config.yaml").read_text())
    grpc_address = f"127.0.0.1:{grpc}" if grpc else None
    data["listen"].update(http=f"127.0.0.1:{http}", https=f"127.0.0.1:{https}", grpc=grpc_address)
    # the 1000 idle connections per listener all come from 127.0.0.1: give it the whole cap
    data["listen"]["max_connections_per_client"] = data["listen"].get("max_connections", 1000)
    return yaml.safe_dump(data)


def start_and_idle(
    python: str, cfg: Path, http: int
) -> tuple[list[float], float, subprocess.Popen]:
    """Median-worthy start times (process start -> first /metrics 200) and the idle RSS 3 s
    after the last start; the last process is left running for the caller."""
    starts = []
    for attempt in range(STARTS):  # the median of a few starts: one is at the mercy of load
        started = time.perf_counter()
        proc = subprocess.Popen(
            [python, "-m", "exporter", "serve", "--config", str(cfg), "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        while _status(http, None, METRICS) != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"exporter exited {proc.returncode} on {cfg}")
            time.sleep(0.002)
        starts.append(time.perf_counter() - started)
        if attempt < STARTS - 1:
            proc.terminate()
            proc.wait(10)
    time.sleep(3)
    return starts, rss_mb(proc.pid), proc


def variants(args, tmp: Path) -> list[tuple[str, list[float], float]]:
    """Start-up and idle RSS without listen.grpc, and on the interpreter running this bench."""
    out = []
    for label, python, grpc in (
        ("listen.grpc unset", args.python, None),
        (f"test venv ({Path(sys.executable).parent.parent.name})", sys.executable, free_port()),
    ):
        http = free_port()
        cfg = tmp / f"variant-{len(out)}.yaml"
        cfg.write_text(default_config_text(http, free_port(), grpc))
        starts, idle, proc = start_and_idle(python, cfg, http)
        proc.terminate()
        proc.wait(10)
        out.append((label, starts, idle))
    return out


async def hold_idle(http: int, https: int, n_each: int) -> list[asyncio.StreamWriter]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    health = request_bytes("/healthz")
    writers = []
    sem = asyncio.Semaphore(100)

    async def one(port: int, c) -> None:
        async with sem:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=c)
                writer.write(health)
                await reader.readuntil(b"\r\n\r\n")
                writers.append(writer)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass

    await asyncio.gather(*(one(http, None) for _ in range(n_each)))
    await asyncio.gather(*(one(https, ctx) for _ in range(n_each)))
    return writers


async def burst(https: int, n: int) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out: list[float] = []
    results = await asyncio.gather(
        *(fresh(https, ctx, request_bytes("/healthz"), out) for _ in range(n)),
        return_exceptions=True,
    )
    return sum(1 for r in results if r is None)


def gauge(http: int, name: str, listener: str) -> float:
    import httpx

    for line in httpx.get(f"http://127.0.0.1:{http}/metrics").text.splitlines():
        if line.startswith(f'{name}{{listener="{listener}"}}'):
            return float(line.split()[-1])
    return float("nan")


def memory_part(args) -> None:
    http, https = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(default_config_text(http, https, free_port()))
        starts, idle, proc = start_and_idle(args.python, cfg, http)
        try:
            held_rss, held = asyncio.run(_with_idle(http, https, proc.pid))
            loop = asyncio.new_event_loop()
            ok = loop.run_until_complete(burst(https, 500))
            loop.close()
            after_burst = rss_mb(proc.pid)
            time.sleep(args.settle)
            settled = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
        others = variants(args, Path(tmp))
    first = statistics.median(starts)
    rows = [
        (f"start -> first /metrics answer (median of {STARTS})", f"{first:.2f} s", "< 0.40 s",
         f"min {min(starts):.2f} s"),
        ("idle RSS", f"{idle:.1f} MB", "< 40 MiB", ""),
        (f"RSS with 2000 idle connections (held {held})", f"{held_rss:.1f} MB", "< idle + 60",
         f"+{held_rss - idle:.1f} MB"),
        (f"RSS right after 500-concurrent TLS burst ({ok} ok)", f"{after_burst:.1f} MB", "", ""),
        (f"RSS {args.settle:g} s after the burst", f"{settled:.1f} MB", "< idle + 20",
         f"+{settled - idle:.1f} MB"),
    ]  # fmt: skip
    for label, s, rss in others:
        rows.append((f"  {label}: start (median)", f"{statistics.median(s):.2f} s", "", ""))
        rows.append((f"  {label}: idle RSS", f"{rss:.1f} MB", "", f"{rss - idle:+.1f} MB"))
    where = "production venv" if args.python != sys.executable else "this interpreter"
    print(f"\nmemory and start-up (embedded default config, listen ports changed; {where}:"
          f" {args.python})")  # fmt: skip
    print(f"{'':<50} {'value':>10} {'goal':>12} {'vs idle':>10}")
    for label, value, goal, delta in rows:
        print(f"{label:<50} {value:>10} {goal:>12} {delta:>10}")
    print("floor for comparison: postgres_exporter / redis_exporter idle RSS ~17 MiB (quoted)")


async def _with_idle(http: int, https: int, pid: int) -> tuple[float, int]:
    writers = await hold_idle(http, https, 1000)
    await asyncio.sleep(2)
    rss = rss_mb(pid)
    for w in writers:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    await asyncio.sleep(2)
    return rss, len(writers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="per keep-alive scenario")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds after the burst")
    ap.add_argument("--rate", type=float, default=1500.0, help="open-loop req/s, all connections")
    ap.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/bench-venv"),
                    help="the production install (pip install '.[server]')")  # fmt: skip
    ap.add_argument("--current-python", action="store_true",
                    help="run the exporter on this interpreter instead of --venv")  # fmt: skip
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    args.python = sys.executable if args.current_python else production_python(args.venv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f" ({os.cpu_count()} cores)")  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 2000+ client sockets
    if not args.skip_latency:
        latency_part(args)
    if not args.skip_memory:
        memory_part(args)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
