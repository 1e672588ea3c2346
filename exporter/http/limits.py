"""Per-listener limits and the counters they produce."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Reasons for `exporter_http_connections_rejected_total{reason}`: connections the server
# closed or refused because of the client or of resources, never a normal close.
REASONS = (
    "app_error",
    "bad_response_header",
    "body_refused",
    "body_too_large",
    "buffer_budget",
    "client_cap",
    "connection_cap",
    "drain_timeout",
    "fd_exhausted",
    "handshake_timeout",
    "handshake_failed",
    "head_timeout",
    "head_too_large",
    "malformed",
)


@dataclass(frozen=True)
class Limits:
    """Connection discipline for one listener (seconds, bytes, connections)."""

    head_timeout: float = 10.0  # first byte of a head -> its end (slowloris)
    handshake_timeout: float = 10.0
    idle_timeout: float = 120.0  # > Go http.Transport's 90 s idle timeout: clients close first
    max_head_bytes: int = 65536  # the request line and the headers
    # a body is read only on a route that takes one (HttpServer.body_routes), up to this
    max_body_bytes: int = 16384
    # what all connections together may hold of unfinished heads and unanswered bodies
    max_buffered_bytes: int = 8 << 20
    max_connections: int = 1000
    # one client address's share, so one client cannot take the whole cap (None: the cap)
    max_connections_per_client: int | None = 250

    @property
    def per_client(self) -> int:
        share = self.max_connections_per_client
        return self.max_connections if share is None else min(share, self.max_connections)


@dataclass
class ListenerStats:
    """What one listener counts; `selfmetrics` turns it into series."""

    name: str
    connections: int = 0
    peak: int = 0  # most connections open at once since `selfmetrics` last looked
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    # None, not 0.0: the first rejection logs at once however small the monotonic clock is
    # (a node booted under a minute ago); `clock` is injectable for tests.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _last_log: float | None = None
    _unlogged: int = 0

    def reject(self, reason: str) -> None:
        """Count a rejection; log at most one line a minute for all of them together, so a
        flood of bad clients cannot flood the log."""
        self.rejected[reason] += 1
        self._unlogged += 1
        now = self.clock()
        if self._last_log is None or now - self._last_log >= 60.0:
            log.warning(
                "%s listener: %d connection(s) rejected in the last minute (latest: %s); "
                "see exporter_http_connections_rejected_total",
                self.name,
                self._unlogged,
                reason,
            )
            self._last_log, self._unlogged = now, 0
