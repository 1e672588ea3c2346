"""What the metrics API checks of a request before routing it: sizes, the path, the query.

The path is taken raw (`raw_path`) and decoded once, segment by segment, so an encoded slash
(`%2F`) stays inside its segment (and is then an invalid name) instead of splitting the path
as a decoded `path` would. A path or query string longer than the API could need is 414 with
a `Status` body; the head as a whole (request line and headers) is bounded by the server
(`listen.max_head_bytes`: 431, also a `Status` on this listener), the one header limit.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_to_bytes

from .status import ApiError

MAX_PATH_BYTES = 2048  # namespace, resource, object and metric names are <= 253 each
MAX_QUERY_BYTES = 8192  # two label selectors


def check_sizes(scope: dict) -> None:
    """414 for a long path or query string."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if len(raw_path) > MAX_PATH_BYTES:
        raise ApiError(414, f"the request path is longer than {MAX_PATH_BYTES} bytes")
    if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        raise ApiError(414, f"the query string is longer than {MAX_QUERY_BYTES} bytes")


def path_of(scope: dict) -> str:
    """The path as the client sent it (undecoded), without a query string."""
    raw = scope.get("raw_path")
    if raw is None:
        return scope["path"]
    return raw.split(b"?", 1)[0].decode("latin-1")


def segments(raw: str) -> list[str]:
    """`raw` (an undecoded path suffix) split on '/' and then each part decoded once.

    400 for a segment that is not valid percent-encoded UTF-8 or that decodes to a '/'."""
    out = []
    for part in raw.split("/"):
        try:
            text = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"invalid path segment {part[:100]!r}: not UTF-8") from None
        if "/" in text:
            raise ApiError(400, f"invalid path segment {part[:100]!r}: an encoded '/'")
        out.append(text)
    return out


def query_of(scope: dict) -> dict[str, list[str]]:
    """The query string's parameters; 400 when it is not valid UTF-8."""
    try:
        text = scope.get("query_string", b"").decode("ascii")
        return parse_qs(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the query string is not valid percent-encoded UTF-8") from None
