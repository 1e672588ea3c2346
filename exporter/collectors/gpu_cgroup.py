"""Which pod and container a process belongs to, from its cgroup path.

The kubelet puts every container in a cgroup under `kubepods`, named after the pod's UID
and the runtime's container ID, in one of these shapes (cgroup v1 or v2; cgroupfs or
systemd driver; containerd, CRI-O or Docker):

    0::/kubepods/burstable/pod<uid>/<container id>
    0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_with_underscores>.slice/cri-containerd-<container id>.scope
    12:memory:/kubepods/pod<uid>/crio-<container id>

`proc_root` is where the host's /proc is mounted (the agent reads other containers'
processes: NVML reports host PIDs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_CONTAINER_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$")


@dataclass(frozen=True)
class ProcessCgroup:
    pod_uid: str | None  # None: not a Kubernetes container (a host process, say)
    container_id: str | None


class CgroupUnreadable(Exception):
    """The process is gone or its /proc entry cannot be read (no host /proc mounted)."""


def parse_cgroup(text: str) -> ProcessCgroup:
    """The pod UID and container ID in a /proc/<pid>/cgroup file (any line that has them)."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        if "kubepods" not in path:
            continue
        uid = _POD_UID.search(path)
        if uid is None:
            continue
        cid = _CONTAINER_ID.search(path)
        return ProcessCgroup(uid.group(1).replace("_", "-"), cid.group(1) if cid else None)
    return ProcessCgroup(None, None)


def process_cgroup(pid: int, proc_root: str = "/proc") -> ProcessCgroup:
    """Raises CgroupUnreadable when /proc/<pid>/cgroup cannot be read."""
    try:
        text = (Path(proc_root) / str(pid) / "cgroup").read_text()
    except OSError as exc:
        raise CgroupUnreadable(f"{proc_root}/{pid}/cgroup: {exc.strerror}") from None
    return parse_cgroup(text)
