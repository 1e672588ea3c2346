"""Secret rotation for collectors that keep connections: reconnect when the secret changes
or the server refuses it.

Every cycle the collector asks `needs_reconnect()`: the target's password source (file or
env var) is read again, and when it holds another password than the live connections were
made with, the collector drops them and connects with the new one, so a rotated Secret is
used within one interval. An authentication failure (`is_auth_error`) makes the collector
`forget()` the connection's secret: that cycle is `*_up 0`, and the next one reconnects with
whatever the source holds by then. (A password changed on the server alone is noticed when
a connection is next made: Redis and PostgreSQL keep sessions that already authenticated.)
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import AuthenticationError

from exporter.config.targets import Target

_UNSET = object()


def is_auth_error(exc: BaseException) -> bool:
    """Whether the server refused the credentials (WRONGPASS/NOAUTH, SQLSTATE class 28)."""
    if isinstance(exc, AuthenticationError):
        return True
    return isinstance(
        exc,
        asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError,
    )


class SecretTracker:
    """The password the live connections of one target were made with."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._used: object = _UNSET

    def needs_reconnect(self) -> bool:
        """Re-read the secret source; True when the live connections (if any) used another
        password, or were refused. Raises ValueError naming the field if it is unreadable."""
        secret = self.target.password()
        value = secret.get_secret_value() if secret is not None else None
        if value == self._used:
            return False
        self._used = value
        return True

    def forget(self) -> None:
        """The server refused the password: reconnect (re-reading it) next cycle."""
        self._used = _UNSET
