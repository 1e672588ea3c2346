"""What the exporter costs to install and to keep running, beside what a user would pick instead.

In one run:

1. Installed size and package count (pip included, as `python -m venv` leaves it) of fresh
   venvs: the bare install (`pip install exporter`, the service library), the full install
   (`exporter[server]`, the exporter service), and prometheus-fastapi-instrumentator (the
   peer of the bare install). Ratio: ours / instrumentator.
2. The container image (podman, tests/support/image.py; the mmdebstrap bookworm base where
   no registry serves python:3.11-slim-bookworm): image and base size, and its /opt/venv by
   package.
3. Idle RSS and start-up time of `exporter serve` on the embedded default (real PostgreSQL
   and Redis on loopback) and on the GPU agent DaemonSet's config (the NVML double and the
   fake kubelet's real gRPC pod-resources server, so the attribution path runs), beside
   Debian's prometheus-postgres-exporter and prometheus-redis-exporter on the same servers
   (`make bench-deps`). Start-up: spawn to the first `/metrics` answer; idle RSS: VmRSS after
   `--idle` seconds without traffic. Ours run in the full-install venv with this worktree's
   code on PYTHONPATH (the GPU double lives in tests/support).

    python bench/footprint.py [--idle 10] [--no-image] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import yaml  # noqa: E402

from exporter.config import load_config  # noqa: E402
from exporter.generators.k8s.pod_config import gpu_agent_config  # noqa: E402
from tests.support import image as img  # noqa: E402
from tests.support import venvs  # noqa: E402
from tests.support.fake_kubelet import FakeKubelet, container, pod  # noqa: E402
from tests.support.servers import free_port, postgres_server, redis_server, stop_process  # noqa: E402

MB = 1e6
MIB = 2**20
# sizes per distribution, from each one's RECORD (what pip installed for it)
_SIZES = """
import importlib.metadata as m, json, os
out = {}
for d in m.distributions():
    total = 0
    for f in d.files or ():
        p = d.locate_file(f)
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
    out[d.metadata["Name"]] = total
print(json.dumps(out))
"""


def dist_sizes(python: str, runner: list[str] | None = None) -> dict[str, int]:
    out = subprocess.run(
        [*(runner or []), python, "-c", _SIZES],
        capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    return json.loads(out.stdout)


def top(sizes: dict[str, int], n: int = 8) -> str:
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {size / MB:.0f}" for name, size in ranked)


def installs(workdir: Path) -> Path:
    """Section 1; returns the full venv's python for section 3."""
    print("== installed size (fresh venv, pip included) ==")
    rows = [
        ("bare: pip install exporter", "exporter @ {wheel}"),
        ("full: pip install 'exporter[server]'", "exporter[server] @ {wheel}"),
        ("peer: prometheus-fastapi-instrumentator", "prometheus-fastapi-instrumentator"),
    ]
    sizes = {}
    pythons = {}
    for label, req in rows:
        venv = workdir / label.split(":")[0]
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        python = venvs.make_venv(venv, req)
        took = time.monotonic() - started
        count = len(venvs.distributions(python))
        size = venvs.tree_bytes(venv)
        sizes[label.split(":")[0]] = size
        pythons[label.split(":")[0]] = python
        print(f"{label:42s} {size / MB:6.1f} MB {count:3d} packages  (built in {took:.0f} s)")
        if label.startswith("full"):
            print(f"{'':42s} largest, MB: {top(dist_sizes(str(python)))}")
    print(f"ratio bare / instrumentator: {sizes['bare'] / sizes['peer']:.2f}")
    return pythons["full"]


def image_section() -> None:
    print("== container image ==")
    if (reason := img.podman_missing()) is not None:
        print(f"skipped: {reason}")
        return
    base, how = img.base_image()
    print(how)
    started = time.monotonic()
    tag = img.build(base, "localhost/exporter:footprint")
    took = time.monotonic() - started
    size = json.loads(img.podman("image", "inspect", tag).stdout)[0]["Size"]
    base_size = json.loads(img.podman("image", "inspect", base).stdout)[0]["Size"]
    print(f"image {size / MB:.0f} MB (base {base_size / MB:.0f} MB), built in {took:.0f} s")
    runner = ["podman", "run", "--rm", "--no-healthcheck", "--entrypoint"]
    out = subprocess.run(
        [*runner, "python", tag, "-c", _SIZES], capture_output=True, text=True, check=True,
        env=img.podman_env(),
    )  # fmt: skip
    per = json.loads(out.stdout)
    du = img.podman(
        "run", "--rm", "--no-healthcheck", "--entrypoint", "du", tag, "-sb", "/opt/venv"
    )
    venv_size = int(du.stdout.split()[0])
    print(f"/opt/venv {venv_size / MB:.0f} MB, {len(per)} packages; MB: {top(per, 12)}")
    missing = [name for name in ("pip", "setuptools", "wheel") if name in per]
    print(f"pip/setuptools/wheel in the venv: {missing or 'none'}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise RuntimeError("no VmRSS")


def measure(label: str, args: list[str], url: str, env: dict, idle: float, log: Path) -> tuple:
    """Spawn, time to the first /metrics answer, idle, VmRSS; stopped after."""
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        deadline = started + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{label} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/metrics", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: no /metrics in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.01)
        startup = time.monotonic() - started
        time.sleep(idle)
        rss = rss_mib(proc.pid)
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    finally:
        stop_process(proc)
    return startup, rss, metrics


def running(full_python: Path, idle: float, workdir: Path) -> None:
    print(f"== idle RSS after {idle:.0f} s, start-up to the first /metrics answer ==")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    env["PYTHONPATH"] = str(venvs.REPO)
    rows = []
    with postgres_server() as pg, redis_server() as redis:
        http = free_port()
        ours = {
            **env,
            "EXPORTER_LISTEN__HTTP": f"127.0.0.1:{http}",
            "EXPORTER_LISTEN__HTTPS": f"127.0.0.1:{free_port()}",
            "EXPORTER_POSTGRES__0__DSN": pg.extra["dsn"],
            "EXPORTER_REDIS__0__URL": redis.extra["url"],
        }
        args = [str(full_python), "-m", "exporter", "serve"]
        startup, rss, text = measure(
            "embedded default",
            args,
            f"http://127.0.0.1:{http}",
            ours,
            idle,
            workdir / "default.log",
        )
        assert 'pg_up{target="main"} 1' in text and 'redis_up{target="main"} 1' in text, text
        rows.append(("exporter serve, embedded default", rss, startup, 50))

        rows.append(gpu_agent_row(full_python, env, idle, workdir))

        for name, peer_env, peer_args in (
            ("prometheus-postgres-exporter", {"DATA_SOURCE_NAME": f"{pg.extra['dsn']}?sslmode=disable"}, []),
            ("prometheus-redis-exporter", {}, [f"--redis.addr={redis.extra['url']}"]),
        ):  # fmt: skip
            binary = shutil.which(name)
            if binary is None:
                rows.append((f"{name} (not installed: make bench-deps)", None, None, None))
                continue
            port = free_port()
            startup, rss, _ = measure(
                name, [binary, f"--web.listen-address=127.0.0.1:{port}", *peer_args],
                f"http://127.0.0.1:{port}", {**env, **peer_env}, idle, workdir / f"{name}.log",
            )  # fmt: skip
            rows.append((f"{name} (Debian)", rss, startup, None))
    peers = [rss for label, rss, _, _ in rows if "Debian" in label and rss]
    print(f"{'':40s} {'RSS MiB':>8s} {'start s':>8s}  goal")
    for label, rss, startup, goal in rows:
        if rss is None:
            print(f"{label:40s}")
            continue
        verdict = "" if goal is None else f"< {goal} MiB: {'met' if rss < goal else 'NOT met'}"
        print(f"{label:40s} {rss:8.1f} {startup:8.2f}  {verdict}")
    if peers:
        for label, rss, _, _ in rows[:2]:
            print(f"ratio {label} / the peers' sum ({sum(peers):.1f} MiB): {rss / sum(peers):.2f}")


def gpu_agent_row(full_python: Path, env: dict, idle: float, workdir: Path) -> tuple:
    """The DaemonSet's config on two GPUs of the NVML double, the kubelet's pod-resources
    API served by the fake kubelet (a grpcio server in its own process) on its socket."""
    agent = workdir / "agent"
    agent.mkdir(exist_ok=True)
    kubelet = FakeKubelet(agent)
    kubelet.set_pods([pod("platform", "gpu-0", container("main", ["GPU-0000"]))])
    kubelet.start()
    try:
        config = gpu_agent_config(load_config(None, environ={}))
        http = free_port()
        config["listen"]["http"] = f"127.0.0.1:{http}"
        config["gpu_attribution"]["pod_resources_socket"] = kubelet.socket
        (agent / "agent.yaml").write_text(yaml.safe_dump(config))
        gpus = [{"uuid": f"GPU-000{i}", "utilization_percent": 40} for i in range(2)]
        (agent / "nvml.json").write_text(json.dumps({"gpus": gpus, "hang": False}))
        args = [str(full_python), str(venvs.REPO / "tests" / "support" / "gpu_agent.py")]
        args += [str(agent / "nvml.json"), "serve", "--config", str(agent / "agent.yaml")]
        startup, rss, text = measure(
            "GPU agent", args, f"http://127.0.0.1:{http}", {**env, "NODE_NAME": "node-a"},
            idle, agent / "log",
        )  # fmt: skip
        assert 'gpu_utilization_ratio{gpu="0"' in text, text[-2000:]
    finally:
        kubelet.stop()
    return ("exporter serve, GPU agent config", rss, startup, 45)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds idle before reading RSS")
    ap.add_argument("--no-image", action="store_true", help="skip the podman image section")
    ap.add_argument("--workdir", type=Path, help="where the venvs go (default: a temp dir)")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="exporter-footprint-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    try:
        full = installs(workdir)
        if not args.no_image:
            image_section()
        running(full, args.idle, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
