"""Load over many kept-alive connections, generated in separate processes so that the client
is not what the figure measures.

Two modes, both over N kept-alive connections (TLS with a client certificate when given),
sending one pre-built request at a time per connection (HTTP/1.1, no pipelining), the way
the kube-aggregator and Prometheus use their connections:

- open loop (`rate > 0`): each connection sends at its own fixed pace (aggregate `rate`
  req/s spread over the connections, each with a random phase). Latency is measured from
  the moment a request was *due*, not from when it was sent, so a late client or a busy
  connection counts against the figure (no coordinated omission). The client's own lateness
  (due -> sent) is reported next to it, so a client that cannot keep up shows.
- closed loop (`rate == 0`): every connection sends its next request as soon as the answer
  arrives, for `duration` seconds; the figure is throughput (req/s) at saturation.

`run_load(...)` starts `processes` copies of this module (`python bench/loadgen.py JSON`),
each with its share of connections and rate, and merges their results.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import subprocess
import sys
from dataclasses import dataclass


class _Conn(asyncio.Protocol):
    """One kept-alive connection; `request()` sends the request and waits for the answer."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buf) >= end + 4 + length:
            status = int(self.buf[9:12])
            del self.buf[: end + 4 + length]
            if not self.waiter.done():
                self.waiter.set_result(status)

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed by the server"))

    async def request(self, data: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def _context(tls: dict | None) -> ssl.SSLContext | None:
    if not tls:
        return None
    ctx = ssl.create_default_context(cafile=tls["ca"])
    if tls.get("client_cert"):
        ctx.load_cert_chain(tls["client_cert"], tls["client_key"])
    return ctx


async def _worker(spec: dict) -> dict:
    loop = asyncio.get_running_loop()
    ctx = _context(spec.get("tls"))
    request = spec["request"].encode("latin-1")
    conns = []
    for _ in range(spec["connections"]):
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", spec["port"], ssl=ctx)
        await conn.request(request)  # handshake and first answer: not measured
        conns.append(conn)
    latencies: list[float] = []
    lateness: list[float] = []
    errors = 0
    start = loop.time() + 0.2
    until = start + spec["duration"]
    rate = spec["rate"]

    async def one(conn: _Conn) -> None:
        nonlocal errors
        period = len(conns) / rate if rate else 0.0
        due = start + random.uniform(0, period)
        while due < until:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = loop.time()
            if not rate:
                due = sent
            lateness.append(sent - due)
            try:
                status = await conn.request(request)
            except ConnectionError:
                errors += 1
                return
            if status != 200:
                errors += 1
            latencies.append(loop.time() - due)
            due = due + period if rate else loop.time()

    await asyncio.gather(*(one(c) for c in conns))
    elapsed = loop.time() - start
    for conn in conns:
        conn.transport.close()
    return {"latencies": latencies, "lateness": lateness, "errors": errors, "elapsed": elapsed}


@dataclass
class LoadResult:
    latencies_ms: list[float]
    lateness_ms: list[float]
    errors: int
    throughput: float  # answered requests per second, all processes together


def run_load(
    port: int,
    request: bytes,
    connections: int,
    rate: float,
    duration: float,
    tls: dict | None = None,
    processes: int = 2,
) -> LoadResult:
    """`connections` kept-alive connections split over `processes` client processes; `rate`
    req/s in all (0: closed loop); `tls` = {ca, client_cert, client_key} file paths."""
    procs = []
    for i in range(processes):
        share = connections // processes + (1 if i < connections % processes else 0)
        spec = {"port": port, "request": request.decode("latin-1"), "connections": share,
                "rate": rate * share / connections, "duration": duration, "tls": tls}  # fmt: skip
        procs.append(
            subprocess.Popen([sys.executable, __file__, json.dumps(spec)], stdout=subprocess.PIPE)
        )
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator exited {proc.returncode}")
        results.append(json.loads(out))
    lat = [x * 1000 for r in results for x in r["latencies"]]
    late = [x * 1000 for r in results for x in r["lateness"]]
    elapsed = max(r["elapsed"] for r in results)
    return LoadResult(lat, late, sum(r["errors"] for r in results), len(lat) / elapsed)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_worker(json.loads(sys.argv[1])))))
