"""The floor every serving figure is compared with, and the one minimal client that measures
both: a plain uvicorn app (httptools, TCP_NODELAY, asyncio TLS) answering a fixed body.

    python -m uvicorn bench.floor:app    # what `floor_process` runs

The client is a bare HTTP/1.1 loop over asyncio streams, so its own overhead is the same
against the floor and the exporter, and stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BODY = b'{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1"}\n' * 4


async def app(scope, receive, send) -> None:
    """The floor: a fixed body for every request."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


@contextlib.contextmanager
def floor_process(
    port: int, tls: dict | None = None, python: str | None = None
) -> Iterator[subprocess.Popen]:
    """uvicorn on 127.0.0.1:port; `tls` = {cert, key, front_ca} for the same TLS settings as
    the metrics API (TLS 1.2+, client certificate requested and verified when given);
    `python`: the interpreter (the exporter's, so both run on the same installed packages)."""
    args = [python or sys.executable, "-m", "uvicorn", "bench.floor:app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--timeout-keep-alive", "120"]  # fmt: skip
    if tls:
        args += ["--ssl-certfile", tls["cert"], "--ssl-keyfile", tls["key"],
                 "--ssl-ca-certs", tls["front_ca"], "--ssl-cert-reqs", "1"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket_connect(port):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the floor uvicorn did not start") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def socket_connect(port: int):
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=1)


def request_bytes(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def keep_alive(
    port: int, ctx: ssl.SSLContext | None, request: bytes, n: int, out: list[float]
) -> None:
    """One kept-alive connection issuing `n` requests back to back; seconds per request."""
    await _session(port, ctx, request, n, out, count_connect=False)


async def fresh(port: int, ctx: ssl.SSLContext | None, request: bytes, out: list[float]) -> None:
    """Connect (and handshake), one request, close; seconds from connect to the response."""
    await _session(port, ctx, request, 1, out, count_connect=True)


async def _session(port, ctx, request: bytes, n: int, out: list[float], count_connect: bool):
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, limit=1 << 22)
    try:
        for _ in range(n):
            if not count_connect:
                started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            out.append(time.perf_counter() - started)
    finally:
        await close(writer)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close and wait (so the server sees the close now, not when the client exits)."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 5)
    except (OSError, TimeoutError, ssl.SSLError):
        pass


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
