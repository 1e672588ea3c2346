"""A Redis Cluster target: every node's health and the target's queues, in ONE pipeline per
node per cycle (INFO sections, SLOWLOG LEN, CLUSTER INFO, CLUSTER NODES and the reads of the
queues whose key slot the node owns), the nodes' pipelines sent concurrently.

The cluster's shape comes from CLUSTER NODES, read in the same pipelines, so a slot
migration or a failover shows in the next cycle's routing without a restart. A queue read
that a node answers with MOVED or ASK (the slot moved, or is moving), or that was routed to
a node that did not answer (a failed master), is read again in the same cycle from the
owner named by the fresh CLUSTER NODES (ASK: from the importing node, after ASKING). What
still fails is that queue's `queue_up 0`, its values stale. Each node's pipeline is bounded
by a share of the collector timeout, so one hung node costs `redis_node_up 0` for that node
only. The collector fails (`redis_up 0`) only when no node answers; the seeds are then
asked for the shape again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError, RedisError, ResponseError

from exporter import catalog
from exporter.collectors import redis_info
from exporter.collectors.credentials import SecretTracker, is_auth_error
from exporter.collectors.queues import queues_by_target
from exporter.collectors.queues.common import QueueError, QueueTargetCollector
from exporter.collectors.queues.redis_queues import RedisQueuesCollector, script_for
from exporter.collectors.queues.scripts import SCRIPTS
from exporter.collectors.redis_cluster_topology import Topology, parse_cluster_nodes
from exporter.collectors.redis_endpoint import connect, with_address
from exporter.collectors.target import per_target
from exporter.config import Config, RedisTarget, parse_host_port
from exporter.runtime import Collector
from exporter.snapshot import Sample

_NODE_SHARE = 0.45  # of the timeout, per pass (a second pass re-reads moved queues)


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _cluster_info(reply: Any) -> dict[str, str]:
    return dict(line.split(":", 1) for line in _text(reply).splitlines() if ":" in line)


class RedisClusterCollector(QueueTargetCollector[RedisTarget]):
    """Health of every node of one cluster target, plus that target's queues."""

    name = "redis_cluster"

    def _setup(self) -> None:
        target = self.config
        parts = target.url.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
        self._seeds = [parts, *target.seeds]
        self._clients: dict[str, aioredis.Redis] = {}
        self.secret = SecretTracker(target)  # one password for every node
        self._topo: Topology | None = None
        # The queue reader of a standalone target, used for its commands and parsing only.
        self._reader = RedisQueuesCollector(target, self.queues, self.interval, self.timeout)
        self._reader.assume_scripts_loaded()
        self._scripts_on: set[str] = set()  # nodes known to hold the scripts
        self._slots = [key_slot((ref.queue.key or "").encode()) for ref in self.queues]

    def _client(self, addr: str) -> aioredis.Redis:
        if addr not in self._clients:
            host, port = parse_host_port(addr)
            url = with_address(self.config.url, host, port)
            self._clients[addr] = connect(self.config, self.timeout, url=url)
        return self._clients[addr]

    async def collect(self) -> Sequence[Sample]:
        started = time.perf_counter()
        if self.secret.needs_reconnect():  # a rotated (or refused) password: new clients
            await self.close()
        if self._topo is None:
            self._topo = await self._discover()
        topo = self._topo
        now = time.time()
        routes: dict[str, list[int]] = {}
        results: list[Any] = [None] * len(self.queues)
        origin = [topo.owner(slot) for slot in self._slots]
        for i, (slot, owner) in enumerate(zip(self._slots, origin, strict=True)):
            if owner is None:
                results[i] = QueueError(f"slot {slot} has no master in the cluster")
            else:
                routes.setdefault(owner, []).append(i)
        addrs = list(topo.nodes)
        replies = await asyncio.gather(
            *(self._node_pass(a, routes.get(a, []), now, health=True) for a in addrs)
        )
        out: list[Sample] = []
        fresh: Topology | None = None
        answered = 0
        for addr, reply in zip(addrs, replies, strict=True):
            node = {**self._labels, "node": addr}
            if isinstance(reply, BaseException):
                out.append(Sample(catalog.REDIS_NODE_UP, node, 0))
                for i in routes.get(addr, []):
                    results[i] = reply
                continue
            answered += 1
            health, cluster_nodes, queue_replies = reply
            out += self._node_samples(health, node)
            if (
                fresh is None
                and topo.nodes[addr].master
                and not isinstance(cluster_nodes, Exception)
            ):
                fresh = parse_cluster_nodes(_text(cluster_nodes))
            for i, r in zip(routes.get(addr, []), queue_replies, strict=True):
                results[i] = r
        if not answered:
            self._topo = None  # ask the seeds again next time
            raise ConnectionError(f"no node of cluster target {self.target!r} answered")
        self._topo = fresh or topo
        for gone in set(self._clients) - set(self._topo.nodes) - set(self._seeds):
            await self._drop(gone)  # forgotten by the cluster
        await self._retry(results, origin, now)
        out.append(Sample(catalog.REDIS_UP, self._labels, 1))
        out.append(
            Sample(catalog.REDIS_PROBE_DURATION, self._labels, time.perf_counter() - started)
        )
        return out + self._reader.samples(self.queues, now, results)

    async def _discover(self) -> Topology:
        errors = []
        for addr in dict.fromkeys([*(self._topo.nodes if self._topo else ()), *self._seeds]):
            try:
                async with asyncio.timeout(self.timeout * _NODE_SHARE):
                    reply = await self._client(addr).execute_command("CLUSTER", "NODES")
                return parse_cluster_nodes(_text(reply))
            except (RedisError, OSError, TimeoutError) as exc:
                errors.append(f"{addr}: {type(exc).__name__}")
                await self._failed(addr, exc)
        raise ConnectionError("no seed of the cluster answered CLUSTER NODES: " + "; ".join(errors))

    async def _node_pass(
        self, addr: str, queue_ix: list[int], now: float, health: bool, asking: bool = False
    ) -> Any:
        """One pipeline to one node: (health replies, CLUSTER NODES reply, queue replies),
        or the exception that stopped it."""
        client = self._client(addr)
        try:
            async with asyncio.timeout(self.timeout * _NODE_SHARE):
                refused = await self._ensure_scripts(addr, client) if queue_ix else {}
                pipe = client.pipeline(transaction=False)
                n = 0
                if health:
                    n = redis_info.add_commands(pipe, self.config.collect)
                    pipe.execute_command("CLUSTER", "INFO")
                    pipe.execute_command("CLUSTER", "NODES")
                refs = [self.queues[i] for i in queue_ix]
                for ref in refs:
                    if asking and script_for(ref) not in refused:
                        pipe.execute_command("ASKING")  # valid for the next command only
                    self._reader.add_reads(pipe, [ref], now, refused)
                replies = await pipe.execute(raise_on_error=False)
                for reply in replies:  # NOAUTH per command: the node's fault, not a queue's
                    if is_auth_error(reply):
                        raise reply
        except (RedisError, OSError, TimeoutError) as exc:
            await self._failed(addr, exc)
            return exc
        rest = replies[n + 2 :] if health else replies
        if asking:  # each read sent follows its ASKING's reply
            rest = rest[1::2]
        queue_replies = self._reader.match_replies(refs, rest, refused)
        if any(isinstance(r, NoScriptError) for r in queue_replies):
            self._scripts_on.discard(addr)  # SCRIPT FLUSH or a restarted node
        return (replies[: n + 1], replies[n + 1] if health else None, queue_replies)

    async def _ensure_scripts(self, addr: str, client: aioredis.Redis) -> dict[str, QueueError]:
        if addr in self._scripts_on or not self._reader.scripts_needed:
            return {}
        refused = {}
        for name in self._reader.scripts_needed:
            try:
                await client.script_load(SCRIPTS[name])
            except ResponseError as exc:
                refused[name] = QueueError(f"node {addr} refused SCRIPT LOAD ({exc})")
        if not refused:
            self._scripts_on.add(addr)
        return refused

    async def _retry(self, results: list[Any], origin: list[str | None], now: float) -> None:
        """Re-read, once, the queues whose node moved them away, lost their scripts or did
        not answer (when the fresh shape names another owner)."""
        topo = self._topo
        assert topo is not None
        plan: dict[tuple[str, bool], list[int]] = {}
        for i, r in enumerate(results):
            if isinstance(r, AskError):  # MovedError is an AskError: both name the node
                dest, asking = f"{r.host}:{r.port}", not isinstance(r, MovedError)
            elif isinstance(r, NoScriptError):
                dest, asking = topo.owner(self._slots[i]), False
            elif isinstance(r, RedisError | OSError | TimeoutError) and not isinstance(
                r, ResponseError
            ):  # the node did not answer: worth it only when another node owns the slot now
                dest, asking = topo.owner(self._slots[i]), False
                if dest == origin[i]:
                    continue
            else:
                continue
            if dest is not None:
                plan.setdefault((dest, asking), []).append(i)
        keys = list(plan)
        replies = await asyncio.gather(
            *(self._node_pass(a, plan[(a, ask)], now, health=False, asking=ask) for a, ask in keys)
        )
        for key, reply in zip(keys, replies, strict=True):
            for j, i in enumerate(plan[key]):
                results[i] = reply if isinstance(reply, BaseException) else reply[2][j]

    def _node_samples(self, health: list[Any], node: dict[str, str]) -> list[Sample]:
        *info_replies, cluster_info = health
        out = [Sample(catalog.REDIS_NODE_UP, node, 1)]
        if isinstance(info_replies[0], Exception):
            return out  # INFO refused (ACL): only the node's reachability is known
        out += redis_info.samples(info_replies, self.config.collect, node)
        if not isinstance(cluster_info, Exception):
            ci = _cluster_info(cluster_info)
            out += [
                Sample(catalog.REDIS_CLUSTER_STATE_OK, node, int(ci.get("cluster_state") == "ok")),
                Sample(catalog.REDIS_CLUSTER_SLOTS_ASSIGNED, node, float(ci.get("cluster_slots_assigned", 0))),
                Sample(catalog.REDIS_CLUSTER_SLOTS_FAIL, node, float(ci.get("cluster_slots_fail", 0))),
                Sample(catalog.REDIS_CLUSTER_KNOWN_NODES, node, float(ci.get("cluster_known_nodes", 0))),
            ]  # fmt: skip
        return out

    async def _failed(self, addr: str, exc: BaseException) -> None:
        """Drop the node's client; a refused password is re-read at the next cycle."""
        if is_auth_error(exc):
            self.secret.forget()
        await self._drop(addr)

    async def _drop(self, addr: str) -> None:
        client = self._clients.pop(addr, None)
        self._scripts_on.discard(addr)
        if client is not None:
            await client.aclose()

    def failure_samples(self) -> Sequence[Sample]:
        return [
            Sample(catalog.REDIS_UP, self._labels, 0),
            *self._reader.failure_samples(),
        ]

    async def close(self) -> None:
        for addr in list(self._clients):
            await self._drop(addr)


def build(config: Config) -> list[Collector]:
    """One collector per cluster target, with that target's queues."""
    refs = queues_by_target(config, "redis")
    targets = [
        t for t in config.redis if t.mode == "cluster" and (t.collect.health or t.name in refs)
    ]
    return per_target(config.collection.queues, targets, RedisClusterCollector, refs)
