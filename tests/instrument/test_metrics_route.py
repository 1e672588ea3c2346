"""instrument()'s own /metrics route never takes a user's route or name (real uvicorn)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from exporter.instrument import METRICS_ROUTE_NAME, instrument
from tests.support.instrument_apps import serve_in_thread


def test_a_user_route_named_metrics_keeps_its_url():
    app = FastAPI()
    instrument(app, "cpu", registry=CollectorRegistry())

    @app.get("/api/stats")
    def metrics() -> dict:
        return {
            "url": str(app.url_path_for("metrics")),
            "ours": app.url_path_for(METRICS_ROUTE_NAME),
        }

    with serve_in_thread(app) as url:
        body = httpx.get(url + "/api/stats").json()
        scrape = httpx.get(url + "/metrics")
    assert body == {"url": "/api/stats", "ours": "/metrics"}
    assert scrape.status_code == 200 and "http_requests_total" in scrape.text


def test_a_user_metrics_route_added_after_instrument_wins():
    app = FastAPI()
    instrument(app, "cpu", registry=CollectorRegistry())

    @app.get("/metrics")
    def my_metrics() -> dict:
        return {"mine": True}

    @app.post("/jobs")
    def jobs() -> dict:
        return {}

    with serve_in_thread(app) as url:
        got = httpx.get(url + "/metrics")
        other = httpx.get(url + "/jobs")
    assert got.status_code == 200 and got.json() == {"mine": True}
    assert other.status_code == 405  # the yielding route changes nothing else


def test_a_later_catch_all_mount_does_not_hide_ours(tmp_path):
    (tmp_path / "index.html").write_text("<p>static</p>")
    app = Starlette()
    instrument(app, "cpu", registry=CollectorRegistry())
    app.router.routes.append(Mount("/", StaticFiles(directory=tmp_path, html=True)))
    with serve_in_thread(app) as url:
        scrape = httpx.get(url + "/metrics")
        static = httpx.get(url + "/")
    assert scrape.status_code == 200 and "# HELP" in scrape.text
    assert static.text == "<p>static</p>"


@pytest.mark.parametrize(
    "routes",
    [
        [Route("/metrics", lambda r: PlainTextResponse("mine"))],
        [Route("/{anything:path}", lambda r: PlainTextResponse("catch-all"))],
        [Mount("/", routes=[Route("/metrics", lambda r: PlainTextResponse("mine"))])],
    ],
    ids=["route", "path-parameter", "mount"],
)
def test_instrument_refuses_a_path_the_app_already_routes(routes):
    app = Starlette(routes=routes)
    with pytest.raises(ValueError, match=r"already routes GET /metrics.*metrics_path=None"):
        instrument(app, "cpu", registry=CollectorRegistry())
    assert not getattr(app, "_exporter_instrumented", False)  # nothing half-installed
    instrument(app, "cpu", metrics_path=None, registry=CollectorRegistry())  # keeps theirs


def test_an_unrelated_existing_route_is_fine():
    app = Starlette(routes=[Route("/metricsx", lambda r: PlainTextResponse("x"))])
    instrument(app, "cpu", registry=CollectorRegistry())
    assert any(getattr(r, "name", None) == METRICS_ROUTE_NAME for r in app.routes)
