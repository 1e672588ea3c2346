"""Push a burst of jobs onto a component class's demo queue.

    python -m demo.burst --class gpu --jobs 200 [--redis-url redis://127.0.0.1:6379/0]

`make demo` drains each queue at a rate set by the class's desired replicas on the status
page, so the page shows desired replicas rise (limited by the scale-up policies), the queue
drain, and, once the scale-down stabilization window has passed, desired replicas fall.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def push(url: str, component_class: str, jobs: int) -> int:
    """Push `jobs` JSON jobs (with an enqueue time) onto `jobs:<class>`; the new length."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        now = time.time()
        payload = [
            json.dumps({"id": os.urandom(4).hex(), "class": component_class, "enqueued_at": now})
            for _ in range(jobs)
        ]
        return int(client.lpush(f"jobs:{component_class}", *payload)) if payload else 0
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="demo.burst", description=__doc__.splitlines()[0])
    p.add_argument("--class", dest="component_class", default="gpu")
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--redis-url", default=os.environ.get("DEMO_REDIS_URL", DEFAULT_REDIS_URL))
    args = p.parse_args(argv)
    if args.jobs < 0:
        print("demo.burst: --jobs must be >= 0", file=sys.stderr)
        return 2
    try:
        depth = push(args.redis_url, args.component_class, args.jobs)
    except redis.RedisError as exc:
        print(f"demo.burst: cannot push to {args.redis_url}: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {args.jobs} jobs onto jobs:{args.component_class} (now {depth} queued)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
