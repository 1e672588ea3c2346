"""End to end: the token-stream SLO alerts in a real Prometheus on a real instrumented app.

A FastAPI app instrumented with `exporter.instrument` serves an SSE route whose time to
first event, gap between events and failure rate the test sets; client threads keep
streams open on it. A real Prometheus scrapes it every second and loads the committed
`alerts/rules.yml` with every `for:` and every 5m rate window 30 times shorter (10m -> 20s,
5m -> 10s), as tests/generators/test_alert_delivery_e2e.py shortens `for:`. The app is
driven past each threshold (defaults: first event p95 2 s, gap p95 0.5 s, 1 % of streams
failing mid-way) until each alert fires, then back under until each clears.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.responses import StreamingResponse

from exporter.instrument import instrument
from tests.support.instrument_apps import serve_in_thread
from tests.support.servers import REPO, prometheus_server, wait_for

RULES = REPO / "alerts" / "rules.yml"
SPEEDUP = 30
ALERTS = ("StreamFirstEventSlow", "StreamInterEventSlow", "StreamsFailingMidway")
CLIENTS = 6
EVENTS = 5


@dataclass
class Mode:
    first_event: float = 0.02
    gap: float = 0.02
    fail_every: int = 0  # every n-th stream raises after its events; 0: none


def build(registry: CollectorRegistry, mode: Mode) -> FastAPI:
    app = FastAPI()
    instrument(app, "gpu", registry=registry)
    counter = {"n": 0}

    @app.get("/v1/generate")
    async def generate() -> StreamingResponse:
        counter["n"] += 1
        first, gap = mode.first_event, mode.gap
        fail = mode.fail_every and counter["n"] % mode.fail_every == 0

        async def tokens():
            yield b": accepted\n\n"  # headers and a comment: not the first event
            await asyncio.sleep(first)
            for i in range(EVENTS):
                if i:
                    await asyncio.sleep(gap)
                yield f"data: token {i}\n\n".encode()
            if fail:
                raise RuntimeError("the engine crashed mid-stream")

        return StreamingResponse(tokens(), media_type="text/event-stream")

    return app


def rules_test_copy(folder: Path) -> Path:
    rules = yaml.safe_load(RULES.read_text())
    seconds = {"s": 1, "m": 60, "h": 3600}
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace("[5m]", f"[{300 // SPEEDUP}s]")
            if "for" in rule:
                d = rule["for"]
                rule["for"] = f"{max(1, int(d[:-1]) * seconds[d[-1]] // SPEEDUP)}s"
    path = folder / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def alert_states(base: str) -> dict[str, str]:
    body = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()
    return {
        a["labels"]["alertname"]: a["state"]
        for a in body["data"]["alerts"]
        if a["labels"]["alertname"] in ALERTS and a["labels"].get("component_class") == "gpu"
    }


def drive(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with httpx.stream("GET", url + "/v1/generate", timeout=30) as resp:
                for _ in resp.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass  # the failing streams break off mid-body


@pytest.mark.timeout(240)
def test_stream_alerts_fire_past_their_thresholds_and_clear_back_under(tmp_path) -> None:
    mode = Mode()
    app = build(CollectorRegistry(), mode)
    stop = threading.Event()
    with serve_in_thread(app) as url:
        clients = [threading.Thread(target=drive, args=(url, stop)) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        try:
            target = url.removeprefix("http://")
            with prometheus_server({"app": [target]}, [rules_test_copy(tmp_path)]) as prom:
                base = prom.extra["url"]
                wait_for(
                    lambda: httpx.get(
                        f"{base}/api/v1/query",
                        params={"query": "component_class:sse_inter_event_seconds:p95_rate5m"},
                        timeout=2,
                    ).json()["data"]["result"],
                    timeout=60,
                    what="the recording rules on scraped streams",
                )
                time.sleep(3)
                assert alert_states(base) == {}, "a stream alert on healthy streams"

                # past every threshold: slow first events, slow tokens, half the streams fail
                mode.first_event, mode.gap, mode.fail_every = 3.0, 0.8, 2
                firing = wait_for(
                    lambda: (
                        (s := alert_states(base))
                        and all(s.get(a) == "firing" for a in ALERTS)
                        and s
                    ),
                    timeout=120,
                    what=f"{ALERTS} firing",
                )
                assert set(firing) == set(ALERTS)

                # back under: every alert resolves (leaves the active list)
                mode.first_event, mode.gap, mode.fail_every = 0.02, 0.02, 0
                wait_for(
                    lambda: alert_states(base) == {},
                    timeout=90,
                    what=f"{ALERTS} cleared (last seen {alert_states(base)})",
                )
        finally:
            stop.set()
            for c in clients:
                c.join(40)
