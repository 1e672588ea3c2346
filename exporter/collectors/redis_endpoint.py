"""Where a Redis target's commands go: a fixed server, or the master Sentinel names now.

A standalone target is one client for its URL. A sentinel target asks the sentinels
(in order, first answer wins) for the master's address at every cycle, so a failover is
followed at the next cycle; when the address changes the old client is closed and one for
the new master is made from the target's URL with host:port replaced. The sentinels are
asked without a password (Sentinel's own `requirepass` is not supported yet).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from exporter.collectors.credentials import SecretTracker, is_auth_error
from exporter.config import RedisTarget, parse_host_port


def connect(
    target: RedisTarget, timeout: float, reply_timeout: bool = True, url: str | None = None
) -> aioredis.Redis:
    """A client with hard socket timeouts and a bounded pool, shared by Redis collectors.

    `reply_timeout=False` drops the per-reply read timer for callers whose whole call is
    already bounded by the runtime's timeout (a big pipeline pays it once per reply).
    `url` replaces the target's URL (a cluster node, the master Sentinel named).
    """
    password = target.password()
    return aioredis.Redis.from_url(
        url or target.url,
        password=password.get_secret_value() if password else None,
        socket_timeout=timeout if reply_timeout else None,
        socket_connect_timeout=timeout,
        max_connections=4,  # a hung server must not make us open more and more sockets
        health_check_interval=0,
        retry_on_timeout=False,
        client_name="exporter",
    )


def with_address(url: str, host: str, port: int) -> str:
    """`url` with its host:port replaced (user, password, db and options kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host)
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


class Endpoint:
    """The client for a standalone or sentinel target; `node` is host:port for sentinel
    targets (the master of the moment) and "" for standalone ones."""

    def __init__(self, target: RedisTarget, timeout: float, reply_timeout: bool = True) -> None:
        self.target = target
        self.timeout = timeout
        self.reply_timeout = reply_timeout
        self.node = ""
        self._client: aioredis.Redis | None = None
        self.secret = SecretTracker(target)
        self._sentinels = [
            aioredis.Redis(
                host=h, port=p, socket_timeout=timeout, socket_connect_timeout=timeout,
                max_connections=2, client_name="exporter",
            )
            for h, p in map(parse_host_port, target.sentinels)
        ]  # fmt: skip

    async def client(self) -> aioredis.Redis:
        """The client to use this cycle; raises when no sentinel names a master, or
        ValueError naming the field when the password source is unreadable. The password
        source is re-read first: another password (or one refused) means a new client."""
        if self.secret.needs_reconnect():
            await self._drop_client()
        if not self._sentinels:
            if self._client is None:
                self._client = connect(self.target, self.timeout, self.reply_timeout)
            return self._client
        host, port = await self._master()
        node = f"{host}:{port}"
        if node != self.node or self._client is None:
            await self._drop_client()
            url = with_address(self.target.url, host, port)
            self._client = connect(self.target, self.timeout, self.reply_timeout, url=url)
            self.node = node
        return self._client

    async def _master(self) -> tuple[str, int]:
        errors = []
        for sentinel in self._sentinels:
            try:
                addr = await sentinel.sentinel_get_master_addr_by_name(self.target.master_name)
            except (RedisError, OSError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if addr:
                host = addr[0].decode() if isinstance(addr[0], bytes) else str(addr[0])
                return host, int(addr[1])
            errors.append(f"does not know master {self.target.master_name!r}")
        raise ConnectionError("no sentinel named the master: " + "; ".join(errors))

    async def drop(self, exc: BaseException | None = None) -> None:
        """After a failure: drop sockets that may hold a half-read reply; when `exc` says
        the server refused the password, the next `client()` re-reads it and reconnects."""
        if exc is not None and is_auth_error(exc):
            self.secret.forget()
        if self._client is not None:
            await self._client.connection_pool.disconnect(inuse_connections=True)

    async def _drop_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def close(self) -> None:
        await self._drop_client()
        for sentinel in self._sentinels:
            await sentinel.aclose()
