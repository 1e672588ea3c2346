"""A small, bounded traffic generator for the demo app (every metric moves).

    python -m demo.traffic --url http://127.0.0.1:8000 --seconds 30 [--concurrency 4]

Mixes flow runs (a few fail), flow lookups, batch embeddings of random sizes, SSE chat
streams (a quarter of them abandoned mid-stream: client disconnects) and a few requests to
paths that do not exist. Prints what it did; exits 0 unless the app never answered.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter

import httpx


async def run_flow(client: httpx.AsyncClient, stats: Counter) -> None:
    r = await client.post(f"/v1/flows/{uuid.uuid4().hex[:8]}/run", json={"input": "abc"})
    stats[f"run {r.status_code}"] += 1


async def get_flow(client: httpx.AsyncClient, stats: Counter) -> None:
    r = await client.get(f"/v1/flows/{uuid.uuid4().hex[:8]}")
    stats[f"get {r.status_code}"] += 1


async def embed(client: httpx.AsyncClient, stats: Counter) -> None:
    size = random.choice((1, 4, 16, 32, 64, 200))
    r = await client.post("/v1/embed", json={"items": [f"item {i}" for i in range(size)]})
    stats[f"embed {r.status_code}"] += 1


async def stream(client: httpx.AsyncClient, stats: Counter) -> None:
    abandon_after = random.choice((None, None, None, 3))  # a quarter leave mid-stream
    params = {"prompt": "the quick brown fox", "tokens": random.randint(10, 40)}
    events = 0
    async with client.stream("GET", "/v1/chat/stream", params=params) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                events += 1
                if abandon_after and events >= abandon_after:
                    stats["stream abandoned"] += 1
                    return
    stats["stream done"] += 1


async def not_found(client: httpx.AsyncClient, stats: Counter) -> None:
    r = await client.get(f"/scan/{uuid.uuid4().hex}")
    stats[f"unknown path {r.status_code}"] += 1


ACTIONS = [(run_flow, 40), (get_flow, 15), (embed, 20), (stream, 20), (not_found, 5)]


async def worker(client: httpx.AsyncClient, deadline: float, stats: Counter) -> None:
    funcs, weights = zip(*ACTIONS, strict=True)
    while time.monotonic() < deadline:
        action = random.choices(funcs, weights)[0]
        try:
            await action(client, stats)
        except httpx.HTTPError as exc:
            stats[f"error {type(exc).__name__}"] += 1
            await asyncio.sleep(0.2)
        await asyncio.sleep(random.uniform(0.0, 0.05))


async def wait_until_up(client: httpx.AsyncClient, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    return False


async def main_async(url: str, seconds: float, concurrency: int) -> int:
    stats: Counter = Counter()
    timeout = httpx.Timeout(10.0, connect=3.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        if not await wait_until_up(client, 15):
            print(f"demo.traffic: {url}/healthz did not answer", file=sys.stderr)
            return 1
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker(client, deadline, stats) for _ in range(concurrency)))
    print(f"demo.traffic: {sum(stats.values())} requests in {seconds:g}s to {url}")
    for key, count in sorted(stats.items()):
        print(f"  {key:24} {count}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bounded traffic for the demo app")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or not 1 <= args.concurrency <= 64:
        parser.error("--seconds must be > 0 and --concurrency between 1 and 64")
    try:
        return asyncio.run(main_async(args.url.rstrip("/"), args.seconds, args.concurrency))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
