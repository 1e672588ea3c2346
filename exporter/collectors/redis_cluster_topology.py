"""A Redis Cluster's shape from CLUSTER NODES: nodes, their roles and who owns each slot."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

SLOTS = 16384


@dataclass(frozen=True)
class ClusterNode:
    addr: str  # host:port
    id: str
    master: bool
    failed: bool


@dataclass
class Topology:
    nodes: dict[str, ClusterNode] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)
    _ranges: list[tuple[int, int, str]] = field(default_factory=list)  # start, end, addr

    def owner(self, slot: int) -> str | None:
        """The address of the master serving `slot`, None when no master has it."""
        i = bisect_right(self._starts, slot) - 1
        if i >= 0:
            start, end, addr = self._ranges[i]
            if start <= slot <= end:
                return addr
        return None


def parse_cluster_nodes(text: str) -> Topology:
    """CLUSTER NODES text -> Topology. Migrating/importing markers (`[slot->-id]`) are
    skipped: until `CLUSTER SETSLOT NODE`, the slot still belongs to its listed owner."""
    topo = Topology()
    ranges = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = set(fields[2].split(","))
        addr = fields[1].split("@")[0]
        if "noaddr" in flags or "handshake" in flags or addr.startswith(":"):
            continue
        node = ClusterNode(
            addr=addr,
            id=fields[0],
            master="master" in flags,
            failed="fail" in flags,
        )
        topo.nodes[addr] = node
        if not node.master:
            continue
        for part in fields[8:]:
            if part.startswith("["):
                continue
            start, _, end = part.partition("-")
            ranges.append((int(start), int(end or start), addr))
    ranges.sort()
    topo._ranges = ranges
    topo._starts = [r[0] for r in ranges]
    return topo
