"""What a request head may ask for, decided when it ends and before any body byte is read
(RFC 9112 where it has a rule): its size, its Host, whether it may carry a body, Expect.

`check_head` raises `Refuse(code, reason, message)`; the connection answers the code in its
listener's words and closes (`reason` is the `exporter_http_connections_rejected_total`
label). `message` is ours: never the client's input.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .limits import Limits

_LINE_OVERHEAD = 12  # "GET " + " HTTP/1.1\r\n" around the method and the target


class Refuse(Exception):
    """Answer `code` and close; `reason` is the stats key."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass(frozen=True, slots=True)
class Head:
    method: str
    version: str
    target: bytes  # the request target as sent (path and query)
    headers: list[tuple[bytes, bytes]]  # names lowercased
    header_bytes: int  # "name: value\r\n" of each, summed


def check_head(head: Head, limits: Limits, body_routes: Collection[tuple[str, bytes]]) -> bool:
    """Refuse a head that breaks a rule; True when a `100 Continue` is due (a body is to be
    read and the client said `Expect: 100-continue`)."""
    size = len(head.method) + len(head.target) + _LINE_OVERHEAD + head.header_bytes + 2
    if size > limits.max_head_bytes:  # the request line counts, as do the blank line's bytes
        raise Refuse(431, "head_too_large", "the request head is too large")
    hosts, length, chunked, expect = 0, None, False, None
    for name, value in head.headers:
        if name == b"host":
            hosts += 1
        elif name == b"content-length":  # httptools has refused a malformed or repeated one
            length = int(value) if value.strip().isdigit() else 0
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expect = value.strip().lower()
    if hosts > 1 or (hosts == 0 and head.version == "1.1"):
        raise Refuse(400, "malformed", "a request needs exactly one Host header")
    has_body = chunked or bool(length)
    if has_body and (head.method, head.target.partition(b"?")[0]) not in body_routes:
        raise Refuse(413, "body_refused", "this path takes no request body")
    if length is not None and length > limits.max_body_bytes:
        raise Refuse(413, "body_too_large", "the request body is too large")
    if expect is not None and expect != b"100-continue":
        raise Refuse(417, "malformed", "only Expect: 100-continue is understood")
    return expect is not None and has_body and head.version == "1.1"
