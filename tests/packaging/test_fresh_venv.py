"""Fresh virtualenvs, installed as users install: the bare package is the service library
(exporter.instrument) and pulls in none of the exporter service's dependencies; the
`server` extra is the exporter. Real `python -m venv` and pip with this host's index."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from exporter.extras import INSTALL_SERVER
from tests.support import venvs
from tests.support.servers import free_port, postgres_server, redis_server, sample_value, wait_for

SERVICE = Path(__file__).resolve().parents[1] / "support" / "bare_service.py"
# The exporter service's heavy parts: none may come with `pip install exporter`.
NOT_IN_BARE = ("asyncpg", "redis", "grpcio", "kubernetes", "pydantic", "fastapi", "uvicorn")


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Path:
    return venvs.make_venv(tmp_path_factory.mktemp("bare") / "venv", "exporter @ {wheel}")


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    return venvs.make_venv(tmp_path_factory.mktemp("full") / "venv", "exporter[server] @ {wheel}")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "EXPORTER_"))}
    return {**env, **extra}


def test_bare_install_holds_the_service_library_only(bare):
    installed = venvs.distributions(bare)
    assert "exporter" in installed
    assert {"prometheus-client", "starlette"} <= installed.keys()
    assert [name for name in NOT_IN_BARE if name in installed] == []


def test_bare_install_serves_an_instrumented_apps_metrics(bare):
    proc = subprocess.Popen(
        [str(bare), str(SERVICE)], cwd=tempfile.gettempdir(), env=_clean_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        imported = proc.stdout.readline().split(" ", 1)
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.poll() is not None else imported
        # the installed package, not the working tree
        assert imported[0] == "exporter" and imported[1].startswith(str(bare.parents[1]))
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/hello", timeout=5).text == "hello"
        text = httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        proc.terminate()
        proc.wait(10)
    assert 'route="/hello"' in text and 'component_class="cpu"' in text, text


def test_bare_install_exporter_serve_exits_2_naming_the_install_command(bare):
    for command in (["serve"], ["check-config"], ["generate", "dashboards"]):
        out = subprocess.run(
            [str(bare.parent / "exporter"), *command], cwd=tempfile.gettempdir(),
            env=_clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2, out
        assert out.stdout == ""
        (line,) = out.stderr.splitlines()
        assert line.startswith(f"exporter: `exporter {command[0]}` needs the exporter service")
        assert line.endswith(INSTALL_SERVER)


@pytest.mark.real_servers
def test_full_install_serves(full):
    installed = venvs.distributions(full)
    assert {"asyncpg", "redis", "pydantic", "grpcio", "kubernetes"} <= installed.keys()
    assert "uvicorn" not in installed and "fastapi" not in installed  # test/bench extras only
    port = free_port()
    with postgres_server() as pg, redis_server() as redis, tempfile.TemporaryDirectory() as tmp:
        env = _clean_env(
            EXPORTER_LISTEN__HTTP=f"127.0.0.1:{port}",
            EXPORTER_LISTEN__HTTPS=f"127.0.0.1:{free_port()}",
            EXPORTER_POSTGRES__0__DSN=pg.extra["dsn"],
            EXPORTER_REDIS__0__URL=redis.extra["url"],
        )
        log = open(Path(tmp) / "log", "w+")
        proc = subprocess.Popen(
            [str(full.parent / "exporter"), "serve"], cwd=tmp, env=env, stdout=log, stderr=log
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(
                lambda: proc.poll() is not None
                or httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
                timeout=60, what="/readyz",
            )  # fmt: skip
            assert proc.poll() is None, Path(tmp, "log").read_text()
            text = httpx.get(f"{url}/metrics", timeout=5).text
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
            log.close()
    assert sample_value(text, "pg_up", target="main") == 1
    assert sample_value(text, "redis_up", target="main") == 1


def test_the_server_extra_is_what_the_cli_checks():
    """exporter.extras names one module per distribution of the `server` extra."""
    import tomllib

    from exporter.extras import SERVER_MODULES

    project = tomllib.loads((venvs.REPO / "pyproject.toml").read_text())["project"]
    names = [r.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip() for r in project["optional-dependencies"]["server"]]  # fmt: skip
    assert sorted(names) == sorted(SERVER_MODULES)
    assert [r.split(">")[0] for r in project["dependencies"]] == ["prometheus-client", "starlette"]
    for extra, reqs in project["optional-dependencies"].items():  # uvicorn: tests and bench only
        assert any(r.startswith("uvicorn") for r in reqs) == (extra in ("test", "bench")), extra
