"""The container image, built from the Dockerfile with podman and run as production runs it:
`--read-only --tmpfs /tmp` as uid 1000, against real PostgreSQL and Redis on the host
network. Skipped only where podman cannot start a container at all (the skip says why).

The base: python:3.11-slim-bookworm where a registry serves it, else a Debian bookworm base
made with mmdebstrap (tests/support/image.py; the warning says which was used).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import warnings
from importlib import resources
from pathlib import Path

import pytest
import yaml

from exporter.config import load_config
from exporter.config.settings import parse_host_port
from exporter.generators.k8s.pod_config import gpu_agent_config
from tests.support import image as img
from tests.support.servers import (
    REPO,
    free_port,
    postgres_server,
    redis_server,
    sample_value,
    scrape,
    wait_for,
)

pytestmark = pytest.mark.real_servers
_names = itertools.count()


@pytest.fixture(scope="module")
def image() -> str:
    if (reason := img.podman_missing()) is not None:
        pytest.skip(reason)
    base, how = img.base_image()
    if (reason := img.cannot_start_containers(base)) is not None:
        pytest.skip(reason)
    warnings.warn(how, stacklevel=1)  # says which base the image was built on
    return img.build(base)


@contextlib.contextmanager
def container(image: str, *args: str, env=None, volumes=(), entrypoint: str | None = None):
    """`podman run -d` as production runs it; removed after. Yields its name."""
    name = f"exporter-test-{os.getpid()}-{next(_names)}"
    run = ["run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "--user", "1000:1000"]
    if entrypoint:
        run += ["--entrypoint", entrypoint]
    run += ["--network", "host", "--health-interval", "disable"]  # no systemd timers here
    for key, value in (env or {}).items():
        run += ["-e", f"{key}={value}"]
    for host, inside in volumes:
        run += ["-v", f"{host}:{inside}:ro"]
    img.podman(*run, image, *args)
    try:
        yield name
    finally:
        img.podman("rm", "-f", "-t", "0", name, check=False)


def logs(name: str) -> str:
    out = img.podman("logs", name, check=False)
    return (out.stdout + out.stderr)[-4000:]


def host_pid(name: str) -> int:
    return int(img.podman("inspect", "-f", "{{.State.Pid}}", name).stdout)


def test_runs_read_only_as_uid_1000_serves_checks_health_and_stops_on_sigterm(image):
    http = free_port()
    with postgres_server() as pg, redis_server() as redis:
        env = {
            "EXPORTER_LISTEN__HTTP": f"127.0.0.1:{http}",
            "EXPORTER_LISTEN__HTTPS": f"127.0.0.1:{free_port()}",
            "EXPORTER_POSTGRES__0__DSN": pg.extra["dsn"],
            "EXPORTER_REDIS__0__URL": redis.extra["url"],
        }
        with container(image, env=env) as name:
            url = f"http://127.0.0.1:{http}"

            def both_up() -> str | None:
                text = scrape(f"{url}/metrics")
                ok = all(sample_value(text, m, target="main") == 1 for m in ("pg_up", "redis_up"))
                return text if ok else None

            try:
                wait_for(both_up, timeout=60, what="pg_up 1 and redis_up 1 from the container")
            except TimeoutError:
                raise AssertionError(logs(name)) from None
            status = Path(f"/proc/{host_pid(name)}/status").read_text()
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uids.split()[1:] == ["1000"] * 4
            # the image's own HEALTHCHECK command, as the engine runs it
            health = img.podman("healthcheck", "run", name, check=False)
            assert health.returncode == 0, (health.stdout, health.stderr, logs(name))
            write = img.podman("exec", name, "sh", "-c", "echo x > /opt/x", check=False)
            assert write.returncode != 0 and "Read-only file system" in write.stderr
            started = time.monotonic()
            img.podman("kill", "--signal", "TERM", name)
            code = img.podman("wait", name, timeout=30).stdout.strip()
            took = time.monotonic() - started
            assert code == "0", logs(name)
            assert took < 5, f"SIGTERM to exit took {took:.1f} s"
            assert "Traceback" not in logs(name)


def test_check_config_on_a_bad_file_exits_2_with_one_line(image, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("postgres:\n  - name: main\n    dsn: mysql://db/app\n")
    bad.chmod(0o644)
    tmp_path.chmod(0o755)
    name = f"exporter-test-{os.getpid()}-{next(_names)}"
    out = img.podman(
        "run", "--rm", "--name", name, "--read-only", "--tmpfs", "/tmp", "--user", "1000:1000",
        "--no-healthcheck", "-v", f"{bad}:/etc/exporter/bad.yaml:ro", image,
        "check-config", "--config", "/etc/exporter/bad.yaml", check=False,
    )  # fmt: skip
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith("exporter: invalid config") and "postgres[0].dsn" in line


def test_image_holds_no_pip_setuptools_or_compiler_and_exposes_the_defaults_ports(image):
    inspect = json.loads(img.podman("image", "inspect", image).stdout)[0]
    config = inspect["Config"]
    default = load_config(None, environ={})
    ports = {parse_host_port(a)[1] for a in (default.listen.http, default.listen.https)}
    if default.listen.grpc:
        ports.add(parse_host_port(default.listen.grpc)[1])
    assert set(config["ExposedPorts"]) == {f"{p}/tcp" for p in ports}
    assert config["User"] == "1000:1000"
    assert inspect["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    probe = (
        "import importlib.util as u, shutil, sys\n"
        "print(sorted(m for m in ('pip', 'setuptools', 'wheel') if u.find_spec(m)))\n"
        "print(sorted(c for c in ('gcc', 'cc', 'c++', 'g++', 'clang', 'pip', 'pip3') if shutil.which(c)))\n"
        "print(sys.prefix)\n"
    )  # fmt: skip
    out = img.podman(
        "run", "--rm", "--no-healthcheck", "--read-only", "--entrypoint", "python", image, "-c", probe
    )  # fmt: skip
    assert out.stdout.split("\n")[:3] == ["[]", "[]", "/opt/venv"], out.stdout
    # the base's interpreter has none either (python:3.11-slim ships pip and setuptools)
    out = img.podman(
        "run", "--rm", "--no-healthcheck", "--entrypoint", "sh", image, "-c",
        "PATH=/usr/local/bin:/usr/bin:/bin python -c 'import pip' 2>&1 || true",
    )  # fmt: skip
    assert "No module named 'pip'" in out.stdout


def test_the_same_image_runs_the_gpu_agent_daemonsets_config(image, tmp_path):
    """The DaemonSet's config (what `generate manifests` writes into its ConfigMap), with the
    NVML double standing in for the driver: tests/support/gpu_agent.py runs the image's own
    `exporter serve`, and its kubelet socket and host /proc are absent here."""
    agent = gpu_agent_config(load_config(None, environ={}))
    http = free_port()
    agent["listen"]["http"] = f"127.0.0.1:{http}"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(agent))
    state = {"gpus": [{"uuid": "GPU-1", "utilization_percent": 37}], "hang": False}
    (tmp_path / "nvml.json").write_text(json.dumps(state))
    for p in (tmp_path, *tmp_path.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    support = REPO / "tests" / "support"
    volumes = [
        (tmp_path / "config.yaml", "/etc/exporter/config/config.yaml"),
        (tmp_path / "nvml.json", "/run/nvml.json"),
        # only the double: /t holds no `exporter`, so the image's installed package runs
        (REPO / "tests" / "__init__.py", "/t/tests/__init__.py"),
        (support / "__init__.py", "/t/tests/support/__init__.py"),
        (support / "nvml_fake.py", "/t/tests/support/nvml_fake.py"),
        (support / "gpu_agent.py", "/t/tests/support/gpu_agent.py"),
    ]
    args = ["/t/tests/support/gpu_agent.py", "/run/nvml.json"]
    args += ["serve", "--config", "/etc/exporter/config/config.yaml"]
    with container(
        image, *args, env={"NODE_NAME": "node-a"}, volumes=volumes, entrypoint="python"
    ) as name:
        try:
            text = wait_for(
                lambda: (t := scrape(f"http://127.0.0.1:{http}/metrics")) and "gpu_utilization_ratio{" in t and t,
                timeout=60, what="GPU metrics from the container",
            )  # fmt: skip
        except TimeoutError:
            raise AssertionError(logs(name)) from None
        assert sample_value(text, "gpu_utilization_ratio", uuid="GPU-1") == 0.37
        assert "pg_up" not in text and "redis_up" not in text
        assert "/opt/venv/" in img.podman("exec", name, "python", "-c", "import exporter; print(exporter.__file__)").stdout  # fmt: skip
        img.podman("kill", "--signal", "TERM", name)
        assert img.podman("wait", name, timeout=30).stdout.strip() == "0", logs(name)


def test_embedded_default_file_is_what_the_image_serves():
    """EXPOSE above is checked against the config the image runs with no flags."""
    text = resources.files("exporter").joinpath("default_config.yaml").read_text()
    assert yaml.safe_load(text)["listen"].get("grpc") is None
