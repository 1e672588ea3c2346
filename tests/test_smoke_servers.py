import asyncpg
import redis as redis_lib


async def test_postgres_fixture_answers(pg):
    conn = await asyncpg.connect(pg.extra["dsn"])
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


def test_redis_fixture_answers(redis):
    assert redis_lib.Redis.from_url(redis.extra["url"]).ping()
