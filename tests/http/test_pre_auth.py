"""What a client can take from a real `exporter serve` before it authenticates, measured on
the process: request bodies (RSS from /proc), its share of the connections, and the
`Status` bodies the metrics API's listener answers its own errors with."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time

import httpx

from tests.support.pki import CA, client_context
from tests.support.servers import exporter_process, free_port, sample_value, wait_for

BODY = 1024 * 1024 - 1024  # what the attacker of issue 20 sent: 1 MiB minus 1 KiB
CLIENTS = 200


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The highest RSS of `pid` while in the `with` block, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def production_config(http: int, https: int, pki: dict, extra: str = "") -> str:
    return f"""
environment: production
namespace: platform
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{https}"{extra}}}
gpu: "off"
metrics_api:
  tls: {{cert_file: "{pki["cert"]}", key_file: "{pki["key"]}"}}
  authentication:
    requestheader_client_ca_file: "{pki["front_ca"]}"
    requestheader_allowed_names: [front-proxy-client]
"""


def make_pki(directory) -> tuple[dict, ssl.SSLContext]:
    serving_ca, front_ca = CA("serving", directory), CA("front-proxy", directory)
    serving = serving_ca.issue("exporter", client=False, hosts=("127.0.0.1",))
    files = {"cert": serving.cert_path, "key": serving.key_path, "front_ca": front_ca.path}
    return files, client_context(serving_ca.path)  # no client certificate: pre-auth


async def _one_body(port: int, ctx: ssl.SSLContext | None, gate: asyncio.Event) -> bytes:
    """A pre-auth client posting BODY bytes; what the server answered (its first bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        await gate.wait()  # every client connected (and handshaken) first, then all send
        path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n".encode())
        chunk = b"a" * 65536
        for _ in range(BODY // len(chunk)):
            writer.write(chunk)
        writer.write(b"a" * (BODY % len(chunk)))
        try:
            await asyncio.wait_for(writer.drain(), 10)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass
        try:
            return await asyncio.wait_for(reader.read(4096), 10)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            return b""
    finally:
        writer.close()


async def _bodies(port: int, ctx: ssl.SSLContext | None) -> list[bytes]:
    gate = asyncio.Event()
    tasks = [asyncio.create_task(_one_body(port, ctx, gate)) for _ in range(CLIENTS)]
    await asyncio.sleep(0)
    for _ in range(300):  # until every connection is open (the TLS handshakes done)
        await asyncio.sleep(0.02)
    gate.set()
    return await asyncio.gather(*tasks)


async def _sequential(port: int, ctx: ssl.SSLContext, n: int) -> None:
    body = b"z" * (2 << 20)
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.write(b"POST /apis HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        try:
            await asyncio.wait_for(writer.drain(), 10)
            await asyncio.wait_for(reader.read(4096), 10)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass
        writer.close()


def _settled_rss(pid: int, baseline: float, seconds: float = 8.0) -> float:
    """RSS once it stops falling (the exporter trims its heap after a burst), at most
    `seconds` after the clients closed."""
    deadline = time.monotonic() + seconds
    now = rss_mb(pid)
    while time.monotonic() < deadline and now > baseline + 5:
        time.sleep(0.25)
        now = rss_mb(pid)
    return now


def test_200_pre_auth_clients_with_1mib_bodies_cost_little_memory_and_it_comes_back(tmp_path):
    pki, ctx = make_pki(tmp_path)
    http, https = free_port(), free_port()
    with exporter_process(production_config(http, https, pki)) as exporter:
        pid = exporter.proc.pid
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200)
        wait_for(lambda: httpx.get(f"https://127.0.0.1:{https}/healthz", verify=ctx))
        time.sleep(2)  # the start-up heap is settled (gc.freeze + trim at 1 s)
        figures = {}
        for name, port, tls in (("https", https, ctx), ("http", http, None)):
            before = rss_mb(pid)
            with PeakRss(pid) as peak:
                answers = asyncio.run(_bodies(port, tls))
            after = _settled_rss(pid, before)
            figures[name] = (before, peak.peak, after)
            print(
                f"\n{name}: {CLIENTS} pre-auth clients x {BODY} B bodies: RSS {before:.1f} MB "
                f"-> peak {peak.peak:.1f} MB -> {after:.1f} MB after they closed"
            )
            assert peak.peak - before < 30, figures
            assert after - before < 10, figures
            # the server answers 413 and lingers (reading and discarding, up to 4 MiB or
            # 2 s) so the answer is read; a client still sending after that may be reset
            # before it reads it
            refused = [a for a in answers if a.startswith(b"HTTP/1.1 413 ")]
            print(f"{name}: {len(refused)} of {CLIENTS} clients read their 413")
            assert refused and all(a in refused or a == b"" for a in answers)
            if name == "https":  # the metrics API words its refusals as a Status
                status = json.loads(refused[0].partition(b"\r\n\r\n")[2])
                assert (status["kind"], status["code"]) == ("Status", 413)
                assert status["reason"] == "RequestEntityTooLarge"
        # 100 sequential 2 MiB TLS POSTs (issue 20: +22 MB that stayed)
        before = rss_mb(pid)
        asyncio.run(_sequential(https, ctx, 100))
        after = _settled_rss(pid, before)
        print(f"\nhttps: 100 sequential 2 MiB POSTs: RSS {before:.1f} MB -> {after:.1f} MB")
        assert after - before < 10
        text = httpx.get(f"http://127.0.0.1:{http}/metrics").text
        for name in ("https", "http"):
            n = sample_value(
                text, "exporter_http_connections_rejected_total", listener=name,
                reason="body_refused",
            )  # fmt: skip
            assert n is not None and n >= CLIENTS * 0.9


def _scrape_from(port: int, source: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_one_client_holding_its_share_cannot_lock_out_another(tmp_path):
    http = free_port()
    config = f"""
environment: dev
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}", max_connections: 200,
          max_connections_per_client: 50, head_timeout_seconds: 1}}
gpu: "off"
metrics_api: {{enabled: false}}
"""
    with exporter_process(config):
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200)
        stop = threading.Event()
        held: list[socket.socket] = []

        def hog() -> None:
            """127.0.0.1 keeps 300 sockets open, reopening what the server closes."""
            while not stop.is_set():
                for s in [s for s in held if _closed(s)]:
                    held.remove(s)
                    s.close()
                while len(held) < 300 and not stop.is_set():
                    try:
                        held.append(socket.create_connection(("127.0.0.1", http), timeout=1))
                    except OSError:
                        break
                time.sleep(0.05)

        thread = threading.Thread(target=hog, daemon=True)
        thread.start()
        try:
            time.sleep(1.5)
            codes = [_scrape_from(http, "127.0.0.2") for _ in range(54)]
        finally:
            stop.set()
            thread.join()
            for s in held:
                s.close()
        assert codes == [200] * 54
        text = httpx.get(f"http://127.0.0.1:{http}/metrics").text
        capped = sample_value(
            text, "exporter_http_connections_rejected_total", listener="http", reason="client_cap"
        )
        assert capped and capped > 0
        print(f"\nper-client share: 54/54 fresh scrapes from 127.0.0.2 answered; "
              f"{capped:.0f} connections from the hog refused at its share")  # fmt: skip


def _closed(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def test_the_metrics_api_listener_answers_its_own_errors_as_status(tmp_path):
    pki, ctx = make_pki(tmp_path)
    http, https = free_port(), free_port()
    with exporter_process(production_config(http, https, pki)):
        wait_for(lambda: httpx.get(f"https://127.0.0.1:{https}/healthz", verify=ctx))

        def raw(request: bytes) -> tuple[int, dict, dict]:
            with socket.create_connection(("127.0.0.1", https), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    t.sendall(request)
                    data = b""
                    while chunk := t.recv(65536):
                        data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
            return int(lines[0].split(b" ")[1]), headers, json.loads(body)

        cases = {
            "bad method": (b"FROB\x01 / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            "100 KB path": (b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
            "oversized body": (
                b"POST /apis HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"b" * 9,
                413,
            ),
            "no Host": (b"GET /apis HTTP/1.1\r\n\r\n", 400),
            "expectation": (b"GET /apis HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417),
        }
        for what, (request, code) in cases.items():
            got, headers, status = raw(request)
            assert got == code, what
            assert headers[b"content-type"] == b"application/json", what
            assert (status["kind"], status["code"]) == ("Status", code), what
            assert b"pppp" not in json.dumps(status).encode()  # no input echoed back
