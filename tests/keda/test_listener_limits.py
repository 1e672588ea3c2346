"""The KEDA scaler's gRPC listener under the same discipline as the HTTP ones, against a real
`exporter serve` (TLS or plaintext) and a client compiled from KEDA's proto: big messages are
refused before they are buffered, client strings are not echoed at length, per-RPC work is
bounded, and idle or handshake-less connections are closed (or refused at the cap).

Issue 20's figures on `dd0d2a1`: 20 clients x 2 calls with a 3 MB name, RSS 68 -> 526 MB
(303 MB a minute later); 3.9 MB of scalerMetadata, 227 MB peak; 2000 idle TCP connections
accepted and none closed after 60 s; 100k metadata keys, 92 ms of event-loop time.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tests.support.keda_client import connect, message, ref
from tests.support.keda_harness import scaler_process
from tests.support.servers import wait_for

GPU = {"componentClass": "gpu", "metric": "queue_depth"}
MB = 1024 * 1024
PREFACE = (
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
)  # + SETTINGS


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; `.peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def scaler(redis):
    with scaler_process(redis.extra["url"]) as server:
        yield server


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details() or ""


def _settled(scaler) -> float:
    """RSS once the server is warm (TLS, the provider, every RPC path run once)."""
    client = scaler.client()
    for _ in range(3):
        client.GetMetricSpec(ref(**GPU), timeout=5)
        _code(lambda: client.IsActive(ref(componentClass="x" * 100, metric="m"), timeout=5))
    client.close()
    time.sleep(0.5)
    return rss_mb(scaler.server.proc.pid)


@pytest.mark.parametrize("what", ["name", "metadata", "headers"])
def test_20_clients_with_3mb_requests_add_under_50mb(scaler, what):
    pid = scaler.server.proc.pid
    before = _settled(scaler)
    if what == "name":  # 3 MB componentClass (NOT_FOUND echoed it whole on dd0d2a1)
        request = ref(componentClass="g" * (3 * MB), metric="queue_depth")
    elif what == "metadata":  # 3.9 MB of otherwise valid scalerMetadata
        request = ref(**GPU, **{f"k{i:06d}": "v" * 30 for i in range(100_000)})
    else:  # a small request with 3 MB of gRPC metadata (HTTP/2 headers)
        request = ref(**GPU)
    headers = [("x-pad", "h" * (3 * MB))] if what == "headers" else None
    assert request.ByteSize() > 3 * MB or headers

    def one_client(_: int) -> list[grpc.StatusCode]:
        client = scaler.client(own_connection=True)
        try:
            return [
                _code(lambda: client.IsActive(request, metadata=headers, timeout=20))[0]
                for _ in range(2)
            ]
        finally:
            client.close()

    with PeakRss(pid) as rss, ThreadPoolExecutor(20) as pool:
        codes = [c for got in pool.map(one_client, range(20)) for c in got]
    assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 40
    assert rss.peak - before < 50, f"RSS {before:.1f} -> peak {rss.peak:.1f} MB"
    after = rss_mb(pid)
    wait_for(lambda: rss_mb(pid) - before < 10, timeout=20, what="RSS back within 10 MB")
    print(
        f"{what}: RSS {before:.1f} -> peak {rss.peak:.1f} -> {after:.1f} at once "
        f"-> {rss_mb(pid):.1f} MB"
    )
    fresh = scaler.client()  # and the scaler still answers
    assert fresh.GetMetricSpec(ref(**GPU), timeout=5).metricSpecs[0].metricName == "queue_depth"
    fresh.close()


def test_client_strings_are_echoed_only_short(scaler):
    client = scaler.client()
    name = "n" * 10_000  # under the message limit, so it reaches the servicer
    code, details = _code(lambda: client.IsActive(ref(componentClass=name, metric="m"), timeout=5))
    assert code == grpc.StatusCode.NOT_FOUND
    assert len(details) < 300 and "(10000 characters)" in details
    code, details = _code(
        lambda: client.GetMetricSpec(ref(**GPU, targetValue="9" * 5000 + "x"), timeout=5)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and len(details) < 300
    long_name = message("GetMetricsRequest", scaledObjectRef=ref(**GPU), metricName="m" * 5000)
    code, details = _code(lambda: client.GetMetrics(long_name, timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "m" * 100 not in details
    client.close()


def test_many_metadata_keys_are_refused_before_reading_them(scaler):
    """A map of 1000 keys fits the 16 KB message limit; it is refused on its size alone."""
    client = scaler.client()
    request = ref(**GPU, **{f"{i:x}": "" for i in range(1000)})
    assert request.ByteSize() < 16384
    for call in (client.IsActive, client.GetMetricSpec):
        code, details = _code(lambda call=call: call(request, timeout=5))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "1002 keys, over the 32 allowed" in details
    code, _ = _code(
        lambda: client.GetMetrics(message("GetMetricsRequest", scaledObjectRef=request), timeout=5)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    client.close()


def _closed_by_server(socks: list[socket.socket], deadline: float) -> dict[int, float]:
    """{index: seconds until the server closed it} for every socket closed before `deadline`."""
    start, closed = time.monotonic(), {}
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(65536)
            except ConnectionError:
                data = b""
            if not data:  # EOF or reset: the server closed it (GOAWAY frames come first)
                closed[key.data] = time.monotonic() - start
                sel.unregister(key.fileobj)
    sel.close()
    return closed


def test_2000_idle_connections_are_closed_or_refused(redis):
    """Plaintext, so the test's 2000 connects cost no TLS: half send nothing (closed at the
    handshake deadline), half send the HTTP/2 preface and hold it open (closed at the idle
    timeout); beyond the cap of 64 a connection is closed at once."""
    extra = "autoscaling: {keda: {plaintext: true, idle_timeout_seconds: 1, max_connections: 64}}\n"
    env = {"EXPORTER_LISTEN__TLS_HANDSHAKE_TIMEOUT_SECONDS": "1"}
    with scaler_process(redis.extra["url"], extra=extra, env=env) as scaler:
        host, port = scaler.grpc.rsplit(":", 1)
        socks = []
        for i in range(2000):
            s = socket.create_connection((host, int(port)), timeout=5)
            if i % 2:
                s.sendall(PREFACE)
            s.setblocking(False)
            socks.append(s)
        try:
            closed = _closed_by_server(socks, time.monotonic() + 30)
        finally:
            for s in socks:
                s.close()
        assert len(closed) == 2000, f"{2000 - len(closed)} connections still open after 30 s"
        print(
            f"2000 idle connections: all closed by the server; the last after "
            f"{max(closed.values()):.1f} s"
        )
        client = connect(scaler.grpc)  # a real client is served once the crowd is gone
        assert client.GetMetricSpec(ref(**GPU), timeout=5).metricSpecs[0].targetSize == 2
        client.close()


def test_connections_beyond_the_cap_are_closed_at_once(redis):
    """With long timeouts, 8 held connections fill the cap: the next ones are closed by the
    server at once while those 8 stay open; once they go, a real client is served."""
    extra = (
        "autoscaling: {keda: {plaintext: true, idle_timeout_seconds: 300, max_connections: 8}}\n"
    )
    env = {"EXPORTER_LISTEN__TLS_HANDSHAKE_TIMEOUT_SECONDS": "300"}
    with scaler_process(redis.extra["url"], extra=extra, env=env) as scaler:
        host, port = scaler.grpc.rsplit(":", 1)

        def preface() -> socket.socket:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(PREFACE)
            s.setblocking(False)
            return s

        held = [preface() for _ in range(8)]
        time.sleep(0.5)  # accepted and counted
        extra_socks = [preface() for _ in range(20)]
        try:
            closed = _closed_by_server(extra_socks, time.monotonic() + 10)
            assert len(closed) == 20, f"only {len(closed)} of 20 over the cap were closed"
            assert _closed_by_server(held, time.monotonic() + 1) == {}  # the 8 stay open
        finally:
            for s in held + extra_socks:
                s.close()
        wait_for(lambda: _serves(scaler.grpc), timeout=10, what="a real client served")


def _serves(address: str) -> bool:
    client = connect(address, own_connection=True)
    try:
        return client.GetMetricSpec(ref(**GPU), timeout=2).metricSpecs[0].targetSize == 2
    except grpc.RpcError:
        return False
    finally:
        client.close()


def test_a_stalled_tls_handshake_is_closed_at_the_deadline(redis):
    """Over TLS (the default): silent connections and ones stuck mid-ClientHello are closed
    at listen.tls_handshake_timeout_seconds (1 s here), and real clients still get in."""
    env = {"EXPORTER_LISTEN__TLS_HANDSHAKE_TIMEOUT_SECONDS": "1"}
    with scaler_process(redis.extra["url"], env=env) as scaler:
        host, port = scaler.grpc.rsplit(":", 1)
        socks = []
        for i in range(40):
            s = socket.create_connection((host, int(port)), timeout=5)
            if i % 2:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
            s.setblocking(False)
            socks.append(s)
        try:
            closed = _closed_by_server(socks, time.monotonic() + 15)
        finally:
            for s in socks:
                s.close()
        assert len(closed) == 40, f"{40 - len(closed)} stalled handshakes still open after 15 s"
        client = scaler.client(own_connection=True)
        assert client.GetMetricSpec(ref(**GPU), timeout=5).metricSpecs[0].targetSize == 2
        client.close()
