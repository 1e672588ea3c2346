from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from tests.support.servers import postgres_server, redis_server

# The launchers in tests/support/servers.py that start a real server process.
REAL_SERVER_LAUNCHERS = frozenset(
    {"postgres_server", "redis_server", "prometheus_process", "prometheus_server"}
    # tests/support/topologies.py: replicated PostgreSQL and Redis, Redis Cluster, Sentinel
    | {
        "pg_primary_with_standby",
        "pg_standby_of",
        "redis_process",
        "redis_primary_replica",
        "redis_cluster",
        "redis_sentinel",
    }  # fmt: skip
)


FRESH_BOOT = Path(__file__).parent / "support" / "fresh_boot"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fresh-boot-clock",
        action="store_true",
        help="time.monotonic() starts near 0 in this process and every Python it starts "
        "(as on a machine booted a moment ago)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fresh-boot-clock"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("fresh_boot", FRESH_BOOT / "sitecustomize.py")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))  # this process

        paths = [str(FRESH_BOOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)


def _calls_a_launcher(code: types.CodeType) -> bool:
    """Whether `code` (or a function nested in it) names a real-server launcher."""
    if REAL_SERVER_LAUNCHERS & set(code.co_names):
        return True
    return any(isinstance(c, types.CodeType) and _calls_a_launcher(c) for c in code.co_consts)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `real_servers` every test that starts a real server, itself or via a fixture
    (`pg`, `redis`, a module's Prometheus...), so `-m "not real_servers"` runs unit tests."""
    for item in items:
        funcs = [getattr(item, "function", None)]
        fixture_info = getattr(item, "_fixtureinfo", None)
        for name in getattr(item, "fixturenames", ()):
            for fixture_def in fixture_info.name2fixturedefs.get(name, ()) if fixture_info else ():
                funcs.append(fixture_def.func)
        if any(
            f is not None and hasattr(f, "__code__") and _calls_a_launcher(f.__code__)
            for f in funcs
        ):
            item.add_marker(pytest.mark.real_servers)


@pytest.fixture(scope="session")
def pg():
    """A PostgreSQL server shared by the session; fault tests start their own."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis():
    with redis_server() as server:
        yield server


@pytest.fixture
def own_pg():
    """A PostgreSQL server this test alone may stop, pause or kill."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def own_redis():
    with redis_server() as server:
        yield server
