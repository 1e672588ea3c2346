"""HTTP/1.1 bytes the server writes: status lines, checked header lines, error responses.

Every header line that reaches the wire goes through `header_line`, which refuses a name
that is not an RFC 9110 token and a value holding CR, LF or NUL: an app (or a value it took
from a client) can never split a response or inject a header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAMES: set[bytes] = set()  # names already proven tokens (apps use a handful)

# (code, message) -> (content type, body): how a listener words the errors the server itself
# answers (400, 413, 431, ...) before any app runs. The metrics API answers `Status` JSON.
ErrorBody = Callable[[int, str], tuple[bytes, bytes]]


class BadHeader(ValueError):
    """A response header the app gave cannot be written safely."""


def status_line(code: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (code, _REASONS.get(code, b"Unknown"))


def check_header(name: bytes, value: bytes) -> None:
    """BadHeader for a non-token name or a value with CR, LF or NUL."""
    if name not in _NAMES:
        if not isinstance(name, bytes) or not _TOKEN.fullmatch(name):
            raise BadHeader("a header name is not a token")
        if len(_NAMES) < 1024:
            _NAMES.add(name)
    if not isinstance(value, bytes) or b"\r" in value or b"\n" in value or b"\0" in value:
        raise BadHeader("a header value holds CR, LF or NUL")


def header_line(name: bytes, value: bytes) -> bytes:
    """`name: value\\r\\n`, checked (`check_header`)."""
    check_header(name, value)
    return b"%s: %s\r\n" % (name, value)


def plain_error(code: int, message: str) -> tuple[bytes, bytes]:
    """The default `ErrorBody`: the reason phrase as text (never the client's input)."""
    return b"text/plain; charset=utf-8", _REASONS.get(code, b"Error") + b"\n"


def error_response(
    code: int, message: str, render: ErrorBody, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> bytes:
    """A complete response that closes the connection."""
    ctype, body = render(code, message)
    lines = [status_line(code), header_line(b"content-type", ctype)]
    lines += [header_line(k, v) for k, v in extra]
    lines.append(b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body))
    lines.append(body)
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (an empty `data` writes nothing: b"" ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
