"""One unary gRPC call over cleartext HTTP/2 on a unix socket, without grpcio.

The GPU agent asks the kubelet's pod-resources API once a minute; grpcio costs it ~17 MB
resident for that (its core library and threads), a third of the agent. This speaks just
what one call needs (RFC 9113 framing, HPACK decoding, gRPC's length-prefixed messages), one
connection per call, everything under one deadline.

Failure: `GrpcError(code, detail)` with gRPC's status names: UNAVAILABLE (no socket, refused,
closed, not HTTP/2), DEADLINE_EXCEEDED (the deadline passed), RESOURCE_EXHAUSTED (an answer
above `max_bytes`), INTERNAL (a protocol error), or the status the server sent.
"""

from __future__ import annotations

import socket
import struct
import time
from urllib.parse import unquote

from exporter.kubelet.hpack import Decoder, HpackError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9
)  # fmt: skip
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
STREAM = 1
WINDOW = 2**31 - 1  # we announce the largest window: the answer never waits on us
MAX_FRAME = 1 << 24  # the largest SETTINGS_MAX_FRAME_SIZE a peer may choose
STATUS_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)  # fmt: skip


class GrpcError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload  # fmt: skip


def _literal(name: str, value: str) -> bytes:
    """A header as an HPACK literal without indexing, new name, no Huffman."""
    out = bytearray(b"\x00")
    for text in (name.encode(), value.encode()):
        if len(text) >= 127:
            raise ValueError("header too long for this encoder")
        out += bytes((len(text),)) + text
    return bytes(out)


class _Connection:
    def __init__(self, path: str, deadline: float) -> None:
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.buffer = b""
        try:
            self._settimeout()
            self.sock.connect(path)
        except TimeoutError:
            self.close()
            raise GrpcError("DEADLINE_EXCEEDED", f"connecting to unix:{path}") from None
        except OSError as exc:
            self.close()
            raise GrpcError("UNAVAILABLE", f"unix:{path}: connect failed: {exc.strerror}") from None

    def _settimeout(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)

    def send(self, data: bytes) -> None:
        try:
            self._settimeout()
            self.sock.sendall(data)
        except TimeoutError:
            raise GrpcError("DEADLINE_EXCEEDED", "sending the request") from None
        except OSError as exc:
            raise GrpcError("UNAVAILABLE", f"connection lost: {exc}") from None

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            try:
                self._settimeout()
                chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            except TimeoutError:
                raise GrpcError("DEADLINE_EXCEEDED", "waiting for the answer") from None
            except OSError as exc:
                raise GrpcError("UNAVAILABLE", f"connection lost: {exc}") from None
            if not chunk:
                raise GrpcError("UNAVAILABLE", "the server closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def frame(self) -> tuple[int, int, int, bytes]:
        head = self._read(9)
        length = int.from_bytes(head[:3], "big")
        if length > MAX_FRAME:
            raise GrpcError("INTERNAL", f"frame of {length} bytes")
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        return head[3], head[4], stream, self._read(length)

    def close(self) -> None:
        self.sock.close()


def _unpad(flags: int, payload: bytes) -> bytes:
    if flags & PADDED:
        if not payload or payload[0] >= len(payload):
            raise GrpcError("INTERNAL", "bad padding")
        payload = payload[1 : len(payload) - payload[0]]
    return payload


def unary_call(
    socket_path: str, method: str, request: bytes, timeout: float, max_bytes: int = 16 << 20
) -> bytes:
    """Call `method` (`/package.Service/Method`) with a serialized request; the serialized
    answer. Raises GrpcError (see the module docstring)."""
    deadline = time.monotonic() + timeout
    conn = _Connection(socket_path, deadline)
    try:
        return _call(conn, method, request, timeout, max_bytes)
    finally:
        conn.close()


def _call(conn: _Connection, method: str, request: bytes, timeout: float, max_bytes: int) -> bytes:
    settings = struct.pack(">HI", 0x2, 0) + struct.pack(">HI", 0x4, WINDOW)  # no push; window
    headers = b"".join(
        _literal(k, v)
        for k, v in (
            (":method", "POST"), (":scheme", "http"), (":path", method),
            (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
            ("grpc-timeout", f"{max(1, int(timeout * 1000))}m"),
        )
    )  # fmt: skip
    message = b"\x00" + struct.pack(">I", len(request)) + request
    conn.send(
        PREFACE
        + _frame(SETTINGS, 0, 0, settings)
        + _frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", WINDOW - 65535))
        + _frame(HEADERS, END_HEADERS, STREAM, headers)
        + _frame(DATA, END_STREAM, STREAM, message)
    )
    decoder = Decoder()
    blocks: list[list[tuple[str, str]]] = []
    block = b""  # a header block being continued
    body = bytearray()
    first = True
    ending = False
    while True:
        try:
            kind, flags, stream, payload = conn.frame()
        except GrpcError as exc:
            if first and exc.code == "INTERNAL":
                raise GrpcError("UNAVAILABLE", "not an HTTP/2 server") from None
            raise
        if first and kind != SETTINGS:  # RFC 9113 3.4: the server's preface is SETTINGS
            raise GrpcError("UNAVAILABLE", "not an HTTP/2 server")
        first = False
        if kind == SETTINGS and not flags & ACK:
            conn.send(_frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            conn.send(_frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            code = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else 0
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
            if last < STREAM or code:
                raise GrpcError("UNAVAILABLE", f"GOAWAY (error code {code})")
        elif stream != STREAM:
            continue  # WINDOW_UPDATE, PRIORITY and the like for the connection or others
        elif kind == RST_STREAM:
            code = int.from_bytes(payload[:4], "big") if len(payload) >= 4 else 0
            raise GrpcError("UNAVAILABLE" if code == 7 else "INTERNAL", f"stream reset ({code})")
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                payload = _unpad(flags, payload)
                if flags & PRIORITY:
                    payload = payload[5:]
                ending = bool(flags & END_STREAM)  # trailers (or trailers-only)
            block += payload
            if flags & END_HEADERS:
                try:
                    blocks.append(decoder.decode(block))
                except HpackError as exc:
                    raise GrpcError("INTERNAL", f"header block: {exc}") from None
                block = b""
                if ending:
                    break
        elif kind == DATA:
            body += _unpad(flags, payload)
            if len(body) > max_bytes + 5:
                raise GrpcError("RESOURCE_EXHAUSTED", f"answer above {max_bytes} bytes")
            if flags & END_STREAM:
                break
    return _answer(blocks, bytes(body))


def _answer(blocks: list[list[tuple[str, str]]], body: bytes) -> bytes:
    if not blocks:
        raise GrpcError("INTERNAL", "the stream ended without headers")
    response = dict(blocks[0])
    trailers = dict(blocks[-1]) if len(blocks) > 1 else response  # trailers-only: one block
    http_status = response.get(":status")
    if http_status != "200":
        raise GrpcError("UNAVAILABLE", f"HTTP status {http_status}")
    status = trailers.get("grpc-status")
    if status is None:
        raise GrpcError("INTERNAL", "no grpc-status in the trailers")
    if status != "0":
        name = STATUS_NAMES[int(status)] if status.isdigit() and int(status) < 17 else "UNKNOWN"
        raise GrpcError(name, unquote(trailers.get("grpc-message", ""))[:300])
    if len(body) < 5:
        raise GrpcError("INTERNAL", "no message in the answer")
    compressed, length = body[0], int.from_bytes(body[1:5], "big")
    if compressed:
        raise GrpcError("INTERNAL", "a compressed message (none was offered)")
    if len(body) != 5 + length:
        raise GrpcError("INTERNAL", "not exactly one message in the answer")
    return body[5:]
