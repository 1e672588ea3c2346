"""Replicated topologies for health tests: PostgreSQL primary + streaming standby, Redis
primary + replica, a 3-master Redis Cluster with replicas, and a Sentinel-watched Redis.

Everything runs from the Debian packages' binaries on free loopback ports in temp dirs and
is torn down (killed, directories removed) when the context exits, even after a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis as sync_redis

from tests.support.servers import (
    Server,
    _as_postgres,
    _pg_bin,
    free_port,
    postgres_server,
    running_postgres,
    wait_for,
)

# --- PostgreSQL ---------------------------------------------------------------------------


def psql(server: Server, sql: str, db: str = "postgres") -> str:
    """Run one statement through psql as the superuser; returns the unaligned output."""
    out = subprocess.run(
        [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
         "-d", db, "-XAtqc", sql],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


# Streaming and already reporting its replay position (NULL until its first feedback).
_STREAMING = "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NOT NULL"


@contextlib.contextmanager
def pg_standby_of(primary: Server, slot: str = "standby1") -> Iterator[Server]:
    """A streaming standby of `primary` (pg_basebackup -R over loopback, through a physical
    replication slot `slot`, application_name = `slot` via cluster_name)."""
    workdir = Path(tempfile.mkdtemp(prefix="exporter-pgstandby-"))
    data = workdir / "data"
    if _root():
        shutil.chown(workdir, "postgres", "postgres")
    port = free_port()
    psql(primary, f"SELECT pg_create_physical_replication_slot('{slot}')")
    subprocess.run(
        _as_postgres([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                      "-U", "postgres", "-D", str(data), "-R", "-S", slot, "-X", "stream",
                      "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    opts = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        f"-c cluster_name={slot} -c hot_standby_feedback=on"
    )
    with running_postgres("postgres-standby", data, port, opts) as server:
        wait_for(lambda: psql(primary, _STREAMING) == "1", what="the standby streaming")
        yield server


@contextlib.contextmanager
def pg_primary_with_standby() -> Iterator[tuple[Server, Server]]:
    """(primary, standby); the primary also holds an unused physical slot `abandoned`."""
    with postgres_server() as primary:
        psql(primary, "SELECT pg_create_physical_replication_slot('abandoned', true)")
        with pg_standby_of(primary) as standby:
            yield primary, standby


def _root() -> bool:
    return os.geteuid() == 0


# --- Redis --------------------------------------------------------------------------------


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def redis_process(
    *args: str, binary: str = "redis-server", config_text: str | None = None
) -> Iterator[Server]:
    """One redis-server (or redis-sentinel) with extra arguments, on a free port."""
    workdir = Path(tempfile.mkdtemp(prefix="exporter-redisx-"))
    port = free_port()
    cmd = [binary]
    if config_text is not None:
        (workdir / "node.conf").write_text(config_text)
        cmd.append(str(workdir / "node.conf"))
    cmd += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
            "--appendonly", "no", "--protected-mode", "no", *args]  # fmt: skip
    if binary == "redis-server":  # a replica syncs at once, not after the 5 s default delay
        cmd += ["--repl-diskless-sync-delay", "0"]
    log = open(workdir / "log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(binary, port, proc=proc, workdir=workdir)
    server.extra["url"] = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: proc.poll() is not None or _listening(port), what=binary)
        if proc.poll() is not None:
            raise RuntimeError(f"{binary} exited: {(workdir / 'log').read_text()[-2000:]}")
        yield server
    finally:
        stop_redis(server)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def stop_redis(server: Server) -> None:
    """Kill a Redis process (a stopped primary, a failed cluster master); idempotent."""
    server.resume()
    assert server.proc is not None
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def client(server: Server) -> sync_redis.Redis:
    return sync_redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)


def wait_replica_synced(replica: Server, primary_port: int) -> None:
    def synced() -> bool:
        info = client(replica).info("replication")
        return info.get("master_port") == primary_port and info.get("master_link_status") == "up"

    wait_for(synced, timeout=30, what="replica in sync")


@contextlib.contextmanager
def redis_primary_replica() -> Iterator[tuple[Server, Server]]:
    """(primary, replica) linked with REPLICAOF, the replica in sync on return."""
    with redis_process() as primary, redis_process() as replica:
        client(replica).replicaof("127.0.0.1", primary.port)
        wait_replica_synced(replica, primary.port)
        yield primary, replica


@contextlib.contextmanager
def redis_cluster(masters: int = 3, replicas: int = 1) -> Iterator[list[Server]]:
    """A Redis Cluster of `masters` masters with `replicas` replicas each, all slots
    assigned, state ok on every node. Failover-ready: a killed master's replica takes over
    after cluster-node-timeout (1 s)."""
    count = masters * (1 + replicas)
    with contextlib.ExitStack() as stack:
        nodes = [
            stack.enter_context(
                redis_process(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    # the bus port defaults to port + 10000, maybe taken or > 65535
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-replica-validity-factor",
                    "0",
                )  # fmt: skip
            )
            for _ in range(count)
        ]
        subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in nodes),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for node in nodes:
            wait_for(
                lambda node=node: cluster_info(node)["cluster_state"] == "ok",
                timeout=30,
                what="cluster_state ok",
            )
        yield nodes


def cluster_info(node: Server) -> dict[str, str]:
    """CLUSTER INFO as a dict (redis-py parses it)."""
    return client(node).execute_command("CLUSTER INFO")


def cluster_masters(nodes: list[Server]) -> list[Server]:
    """The live nodes that are masters now."""
    live = [n for n in nodes if n.proc is not None and n.proc.poll() is None]
    return [n for n in live if client(n).info("replication")["role"] == "master"]


def key_slot(node: Server, key: str) -> int:
    return int(client(node).execute_command("CLUSTER KEYSLOT", key))


def slot_owner(nodes: list[Server], slot: int) -> Server:
    """The master serving `slot`, as the first live node's CLUSTER SLOTS says."""
    live = next(n for n in nodes if n.proc is not None and n.proc.poll() is None)
    for start, end, master, *_ in client(live).execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return next(n for n in nodes if n.port == int(master[1]))
    raise LookupError(f"slot {slot} is not assigned")


def migrate_slot(nodes: list[Server], slot: int, dest: Server) -> None:
    """Move one slot with its keys to `dest` (the resharding steps redis-cli performs)."""
    source = slot_owner(nodes, slot)
    src, dst = client(source), client(dest)
    src_id = src.execute_command("CLUSTER MYID").decode()
    dst_id = dst.execute_command("CLUSTER MYID").decode()
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", dest.port, "", 0, 5000, "KEYS", *keys)
    for node in cluster_masters(nodes):
        client(node).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


SENTINEL_MASTER = "queues"


@contextlib.contextmanager
def redis_sentinel(sentinels: int = 1) -> Iterator[dict]:
    """A master, a replica and `sentinels` sentinels (quorum 1) watching master `queues`.

    Yields {"master": Server, "replica": Server, "sentinels": [Server, ...]}.
    """
    if shutil.which("redis-sentinel") is None:
        raise RuntimeError("redis-sentinel not found: apt-get install redis-sentinel")
    with contextlib.ExitStack() as stack:
        master, replica = stack.enter_context(redis_primary_replica())
        conf = (
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n"
            f"sentinel failover-timeout {SENTINEL_MASTER} 5000\n"
        )
        watchers = [
            stack.enter_context(redis_process(binary="redis-sentinel", config_text=conf))
            for _ in range(sentinels)
        ]
        for s in watchers:
            wait_for(
                lambda s=s: _sentinel_sees_replica(s), timeout=30, what="sentinel sees replica"
            )
        yield {"master": master, "replica": replica, "sentinels": watchers}


def _sentinel_sees_replica(sentinel: Server) -> bool:
    replicas = client(sentinel).execute_command("SENTINEL", "REPLICAS", SENTINEL_MASTER)
    return bool(replicas)


def sentinel_master_port(sentinel: Server) -> int:
    host, port = client(sentinel).execute_command(
        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER
    )
    return int(port)


def sentinel_failover(sentinel: Server, replica: Server) -> None:
    """SENTINEL FAILOVER and wait until the sentinel names `replica` as master."""
    deadline = time.monotonic() + 30
    while True:  # a failover asked too early after start is refused with NOGOODSLAVE
        try:
            client(sentinel).execute_command("SENTINEL", "FAILOVER", SENTINEL_MASTER)
            break
        except sync_redis.ResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    wait_for(
        lambda: (
            sentinel_master_port(sentinel) == replica.port
            and client(replica).info("replication")["role"] == "master"
        ),
        timeout=30,
        what="sentinel failover",
    )
