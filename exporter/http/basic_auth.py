"""HTTP basic auth against bcrypt hashes (the web-config file's `basic_auth_users`), built so
that wrong passwords cannot starve anything else and timing reveals no user names.

- bcrypt (hundreds of ms at cost 12, on purpose) runs in a one-thread executor of its own
  (niced on Linux), never in asyncio's default one, and at most `max_queued` checks wait for it: one more is
  answered 503 with `Retry-After` at once, not queued behind a flood.
- An unknown user is checked against a dummy hash of the same cost (made once, in that
  thread, before any check), so "no such user" and "wrong password" take the same time.
- A successful (user, password) is remembered as a salted digest (`MAX_REMEMBERED`), so a
  scraper costs one hash lookup per scrape, not one bcrypt run, and never waits for the
  executor; the memory is forgotten when the users change.
- Failures are rate-limited per client address (a token bucket: `failure_burst`, refilled
  one per `failure_refill_seconds`); a client over it gets 429 with `Retry-After` at once,
  before any bcrypt work. Cached successes are served regardless.
- The users come from `users`: a mapping, or a callable returning the current mapping
  (`WebConfigFile.users`, which re-reads the file when it changes).

Failure semantics: 401 with `WWW-Authenticate` for a missing, malformed or wrong credential;
429 or 503 as above; passwords are never logged. /healthz and /readyz are open (kubelet
probes carry no credentials and the answers reveal nothing).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from exporter.asgi import respond

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
BCRYPT_MAX_PASSWORD = 72  # bytes bcrypt reads; longer ones are refused (Go's bcrypt does too)


def _cost(hashed: bytes) -> int:
    try:
        return int(hashed.split(b"$")[2])
    except (IndexError, ValueError):
        return 12


@dataclass(frozen=True)
class Refusal:
    """A refused request's answer, sent through the one responder (`exporter.asgi`)."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]

    async def send(self, send, head: bool) -> None:
        await respond(send, self.status, self.body, TEXT, self.headers, head=head)


TEXT = b"text/plain; charset=utf-8"
UNAUTHORIZED = Refusal(401, b"Unauthorized\n", ((b"www-authenticate", b'Basic realm="exporter"'),))
TOO_MANY = Refusal(429, b"Too many failed logins\n", ((b"retry-after", b"10"),))
BUSY = Refusal(503, b"Password checks are busy\n", ((b"retry-after", b"1"),))


class FailureLimiter:
    """Per-client token buckets for failed logins, at most `max_clients` remembered (the
    least recently failing forgotten first), on an injectable monotonic clock."""

    def __init__(
        self,
        burst: int,
        refill_seconds: float,
        clock: Callable[[], float],
        max_clients: int = 4096,
    ) -> None:
        self.burst, self.refill, self.clock = burst, refill_seconds, clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) / self.refill)

    def allowed(self, client: str) -> bool:
        """Whether `client` may try a password now (at least one token left)."""
        return client not in self._buckets or self._tokens(client, self.clock()) >= 1.0

    def failed(self, client: str) -> None:
        now = self.clock()
        self._buckets[client] = (max(0.0, self._tokens(client, now) - 1.0), now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


class BasicAuth:
    """ASGI middleware: basic auth in front of `app` (see the module docstring)."""

    MAX_REMEMBERED = 64

    def __init__(
        self,
        app: Callable,
        users: Mapping[str, bytes] | Callable[[], Mapping[str, bytes]],
        *,
        max_queued: int = 4,
        failure_burst: int = 10,
        failure_refill_seconds: float = 6.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._source = users if callable(users) else (lambda: users)
        self.max_queued = max_queued
        self.limiter = FailureLimiter(failure_burst, failure_refill_seconds, clock)
        # one thread: a flood of checks costs at most one core, whatever the queue holds
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="basic-auth", initializer=_lower_priority
        )
        self._queued = 0
        self._users: Mapping[str, bytes] | None = None
        self._use(self._source())

    def _use(self, users: Mapping[str, bytes]) -> None:
        """Adopt a (new) set of users: forget remembered successes, make the dummy hash."""
        self._users = users
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._salt = hashlib.sha256(b"".join(users.values()) + b"exporter").digest()
        self._dummy: Future[bytes] | None = None
        if users:
            cost = Counter(_cost(h) for h in users.values()).most_common(1)[0][0]
            self._dummy = self._executor.submit(_make_dummy, cost)  # runs before any check

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        users = self._source()
        if users is not self._users:
            self._use(users)
        if not users:  # a web-config without basic_auth_users: nothing to check
            await self.app(scope, receive, send)
            return
        verdict = await self._verdict(scope)
        if verdict is None:
            await self.app(scope, receive, send)
            return
        await verdict.send(send, head=scope.get("method") == "HEAD")

    async def _verdict(self, scope) -> Refusal | None:
        """None when allowed, else the answer to send."""
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return UNAUTHORIZED
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return UNAUTHORIZED
        digest = hashlib.sha256(self._salt + user + b"\0" + password).digest()
        if digest in self._ok:
            self._ok.move_to_end(digest)
            return None
        client = (scope.get("client") or ("",))[0] or ""
        if not self.limiter.allowed(client):
            return TOO_MANY
        if self._queued >= self.max_queued:
            return BUSY
        hashed = self._users.get(user.decode("utf-8", "replace")) if sep else None
        users = self._users
        self._queued += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._executor, self._check, password, hashed)
        finally:
            self._queued -= 1
        if not ok:
            self.limiter.failed(client)
            return UNAUTHORIZED
        if users is self._users:  # not a success against users replaced meanwhile
            self._ok[digest] = None
            while len(self._ok) > self.MAX_REMEMBERED:
                self._ok.popitem(last=False)
        return None

    def _check(self, password: bytes, hashed: bytes | None) -> bool:
        """In the executor: one bcrypt run whatever the outcome (the dummy for an unknown
        user or an over-long password)."""
        import bcrypt

        usable = hashed is not None and len(password) <= BCRYPT_MAX_PASSWORD
        try:
            target = hashed if usable else self._dummy.result()  # type: ignore[union-attr]
            return bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], target) and usable
        except ValueError:  # a hash bcrypt cannot read: a wrong password, not a crash
            return False


def _lower_priority() -> None:
    """Linux: nice this thread (not the process: Linux threads have their own nice value), so
    on a busy node the event loop, serving scrapes and HPAs, gets the CPU before bcrypt."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _make_dummy(cost: int) -> bytes:
    import bcrypt

    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=cost))
