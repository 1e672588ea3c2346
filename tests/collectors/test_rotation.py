"""Secret rotation against real servers: the password changes on the server (its sessions
are cut, as a restart or failover does), then in the mounted file. `*_up` goes to 0 and
back to 1 within two collection intervals of the file changing, and the metrics API serves
again (200). Redis with `CONFIG SET requirepass` and with an ACL user; PostgreSQL with
`ALTER ROLE ... PASSWORD` on a cluster whose TCP logins need a password."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis as redis_lib

from exporter.collectors import REGISTRY
from exporter.config import Config
from exporter.metrics_api.app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.servers import postgres_server

INTERVAL = 0.5
PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"


def _config(target_kind: str, target: dict, queue: dict) -> Config:
    return Config.model_validate(
        {
            "namespace": "platform",
            "collection": {"interval_seconds": INTERVAL, "timeout_seconds": 0.4},
            "gpu": "off",
            "kubernetes": {"enabled": "off"},
            target_kind: [target],
            "component_classes": [
                {"name": "cpu", "workload": {"name": "w"}, "queues": [{"name": "jobs", **queue}]}
            ],
            "metrics_api": {"external": [{"name": "queue_depth", "source": "snapshot"}]},
        }
    )


class Running:
    def __init__(self, config: Config) -> None:
        self.snapshot = Snapshot()
        collectors = [c for build in REGISTRY for c in build(config)]
        self.runtime = Runtime(self.snapshot, collectors)
        app = create_app(config, self.snapshot, self.runtime.ready.is_set, None)
        self.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a")

    async def until(self, predicate, timeout: float, what: str) -> float:
        """Seconds until predicate() holds (async), or fail."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if await predicate():
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"{what} not within {timeout}s")

    async def api_code(self) -> int:
        return (await self.api.get(PATH)).status_code


async def _rotate(running: Running, up: str, labels: dict, change_server, secret_file: Path):
    async def is_up(value: float):
        return running.snapshot.value(up, labels) == value

    async def api_ok():
        return await running.api_code() == 200

    running.runtime.start()
    try:
        await running.until(lambda: is_up(1.0), 20, f"{up} 1")
        # the queue is read by its own collector (collection.queues), which may finish its
        # first read after the health collector's: the API serves once both have
        await running.until(api_ok, 20, "the metrics API serving 200")
        change_server()
        await running.until(lambda: is_up(0.0), 5 * INTERVAL + 2, f"{up} 0 after the change")
        secret_file.write_text("new-pass\n")
        waited = await running.until(lambda: is_up(1.0), 10, f"{up} back to 1")
        assert waited <= 2 * INTERVAL + 0.5, waited  # two intervals (+ scheduling slack)
        await running.until(api_ok, 2 * INTERVAL + 1, "the metrics API back to 200")
    finally:
        await running.runtime.stop()
        await running.api.aclose()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("old-pass\n")
    return path


@pytest.mark.parametrize("acl", [False, True], ids=["requirepass", "acl-user"])
async def test_redis_password_rotation(own_redis, secret_file, acl):
    admin = redis_lib.Redis(port=own_redis.port)
    admin.lpush("rot:jobs", 1, 2)
    user = "exporter" if acl else ""
    if acl:
        admin.execute_command("ACL", "SETUSER", "exporter", "on", ">old-pass", "~*", "+@all")
        admin.execute_command("ACL", "SETUSER", "default", "off")
        admin = redis_lib.Redis(port=own_redis.port, username="exporter", password="old-pass")
    else:
        admin.config_set("requirepass", "old-pass")
        admin = redis_lib.Redis(port=own_redis.port, password="old-pass")
    url = (
        f"redis://{user}@127.0.0.1:{own_redis.port}/0"
        if acl
        else f"redis://127.0.0.1:{own_redis.port}/0"
    )
    config = _config(
        "redis",
        {"name": "main", "url": url, "password_file": str(secret_file)},
        {"kind": "redis_list", "key": "rot:jobs"},
    )

    def change_server():
        if acl:
            admin.execute_command("ACL", "SETUSER", "exporter", "resetpass", ">new-pass")
        else:
            admin.config_set("requirepass", "new-pass")
        # a restart or failover cuts the sessions that authenticated with the old password
        admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")

    await _rotate(Running(config), "redis_up", {"target": "main"}, change_server, secret_file)


async def test_postgres_password_rotation(secret_file):
    with postgres_server(password_auth=True) as pg:
        admin = await asyncpg.connect(host=str(pg.workdir), port=pg.port, user="postgres")
        await admin.execute("CREATE ROLE app LOGIN PASSWORD 'old-pass'; GRANT pg_monitor TO app")
        config = _config(
            "postgres",
            {
                "name": "main",
                "dsn": f"postgresql://app@127.0.0.1:{pg.port}/postgres",
                "password_file": str(secret_file),
            },
            {"kind": "postgres_query", "query": "SELECT 3"},
        )
        loop = asyncio.get_running_loop()

        def change_server():
            async def change():
                await admin.execute("ALTER ROLE app PASSWORD 'new-pass'")
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'"
                )

            loop.create_task(change())

        try:
            await _rotate(Running(config), "pg_up", {"target": "main"}, change_server, secret_file)
        finally:
            await admin.close()
