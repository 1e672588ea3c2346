from __future__ import annotations

import pytest

from tests.servers import postgres_server, redis_server


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
