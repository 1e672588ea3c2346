"""The container image, built and run with podman (runc) as the test suite and `make image`
do it.

Base image: the Dockerfile's `BASE` build argument defaults to python:3.11-slim-bookworm.
Where no registry serves it (this machine, CI), `base_image` makes a Debian bookworm root
filesystem with mmdebstrap (Python 3.11 from Debian), imports it into podman and says so;
its tarball is cached under build/image-cache (EXPORTER_IMAGE_CACHE), named by a hash of the
recipe, so a second run imports it again in seconds and a changed recipe builds a new one.

Build-time settings: pip inside the build sees this host's pip configuration (index,
find-links, constraints, CA bundle, PIP_* variables: whatever `pip config list` reports)
through read-only build volumes (`podman build -v`), so the build works where TLS is
intercepted; none of it is written into a layer.

podman on these machines: cgroupfs cgroup manager, runc, and no default ulimits (runc
cannot set RLIMIT_NOFILE in this sandbox; crun cannot set rlimits at all): `podman_env`
points CONTAINERS_CONF at a file that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "python:3.11-slim-bookworm"
IMAGE = "localhost/exporter:test"
CACHE = Path(os.environ.get("EXPORTER_IMAGE_CACHE", REPO / "build" / "image-cache"))
# What stands in for python:3.11-slim-bookworm: Debian's python3 (3.11 on bookworm), venv,
# `python` on PATH, CA certificates; no documentation, manuals or translations (as slim).
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "python-is-python3", "ca-certificates"],
    "dpkgopt": [
        "path-exclude=/usr/share/doc/*",
        "path-exclude=/usr/share/man/*",
        "path-exclude=/usr/share/info/*",
        "path-exclude=/usr/share/locale/*",
    ],
}
CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""
# where the build sees the merged pip configuration and the CA bundle
BUILD_PIP_CONF = "/etc/pip.conf"
BUILD_CA = "/etc/exporter-build/ca-certificates.crt"


class ImageError(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    conf = Path(tempfile.gettempdir()) / "exporter-podman-containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        tmp = conf.with_suffix(f".{os.getpid()}")
        tmp.write_text(CONTAINERS_CONF)
        os.replace(tmp, conf)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env()
    )
    if check and out.returncode != 0:
        raise ImageError(f"podman {shlex.join(args)} exited {out.returncode}: {out.stderr[-3000:]}")
    return out


def _recipe_key() -> str:
    return hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode()).hexdigest()[:16]


def debian_base() -> tuple[str, Path]:
    """The mmdebstrap base, imported into podman: (tag, its cached tarball)."""
    key = _recipe_key()
    tag = f"localhost/exporter-base-bookworm:{key}"
    tar = CACHE / f"bookworm-python3.11-{key}.tar"
    if not tar.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tar.with_name(f"{tar.stem}.{os.getpid()}.partial.tar")
        args = ["mmdebstrap", f"--variant={BASE_RECIPE['variant']}", "--mode=root", "-q"]
        args += ["--format=tar"]
        args += [f"--include={','.join(BASE_RECIPE['include'])}"]
        args += [f"--dpkgopt={opt}" for opt in BASE_RECIPE["dpkgopt"]]
        args += [BASE_RECIPE["suite"], str(partial)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            partial.unlink(missing_ok=True)
            raise ImageError(f"mmdebstrap exited {out.returncode}: {out.stderr[-3000:]}")
        os.replace(partial, tar)
    if podman("image", "exists", tag, check=False).returncode != 0:
        podman("import", str(tar), tag, timeout=300)
    return tag, tar


def base_image() -> tuple[str, str]:
    """(the BASE build argument, one line on how it was chosen)."""
    if podman("image", "exists", DEFAULT_BASE, check=False).returncode == 0:
        return DEFAULT_BASE, f"base {DEFAULT_BASE} (present locally)"
    pulled = podman("pull", "-q", f"docker.io/library/{DEFAULT_BASE}", timeout=300, check=False)
    if pulled.returncode == 0:
        return DEFAULT_BASE, f"base {DEFAULT_BASE} (pulled)"
    reason = (pulled.stderr.strip().splitlines() or ["pull failed"])[-1][:200]
    tag, tar = debian_base()
    return tag, (
        f"no registry serves {DEFAULT_BASE} ({reason}); built on a Debian bookworm base made "
        f"with mmdebstrap instead (Python 3.11 from Debian): {tag}, cached as {tar}"
    )


def host_pip_settings() -> dict[str, str]:
    """This host's effective pip settings (files and PIP_* variables), `pip config list`."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    )
    settings: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        value = value.strip().strip("'\"")
        if key.startswith(":env:") or key.startswith("global.") or name not in settings:
            settings[name] = value  # PIP_* variables win over files, as in pip
    return settings


def _local_paths(value: str) -> list[Path]:
    """Local files or folders a pip setting refers to (file:// index URLs: the index root)."""
    paths = []
    for token in value.split():
        if token.startswith("file://"):
            path = Path(urlsplit(token).path)
            paths.append(path.parent if path.name == "simple" else path)
        elif token.startswith("/"):
            paths.append(Path(token))
    return [p for p in paths if p.exists()]


def build_volumes(workdir: Path) -> list[str]:
    """`podman build -v` arguments handing pip this host's configuration and CA bundle."""
    settings = host_pip_settings()
    ca = settings.pop("cert", None) or ssl.get_default_verify_paths().cafile
    volumes: dict[str, str] = {}
    for value in settings.values():
        for path in _local_paths(value):
            volumes[str(path)] = str(path)
    lines = ["[global]"] + [f"{k} = {v}" for k, v in sorted(settings.items())]
    if ca and Path(ca).exists():
        volumes[str(Path(ca).resolve())] = BUILD_CA
        lines.append(f"cert = {BUILD_CA}")
    conf = workdir / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    volumes[str(conf)] = BUILD_PIP_CONF
    return [arg for host, inside in volumes.items() for arg in ("-v", f"{host}:{inside}:ro")]


def build(base: str, tag: str = IMAGE) -> str:
    """podman build of the Dockerfile on `base`; the build log's tail on failure."""
    with tempfile.TemporaryDirectory(prefix="exporter-image-") as tmp:
        args = ["build", "--format", "docker", "--network", "host", "--layers"]
        args += ["--build-arg", f"BASE={base}", *build_volumes(Path(tmp)), "-t", tag]
        podman(*args, str(REPO), timeout=1200)
    return tag


def podman_missing() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (make deps installs it)"
    return None


def cannot_start_containers(image: str) -> str | None:
    """None when podman starts a container of `image`; else one line saying why not."""
    out = podman("run", "--rm", "--network", "host", image, "true", check=False, timeout=120)
    if out.returncode != 0:
        return f"podman cannot start a container here: {out.stderr.strip().splitlines()[-1:]}"
    return None


if __name__ == "__main__":  # make image
    base, how = base_image()
    print(how)
    print(build(base, sys.argv[1] if len(sys.argv) > 1 else "localhost/exporter:latest"))
