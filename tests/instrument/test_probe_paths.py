"""Health-probe paths are not traffic: excluded from request metrics by default (issue 10),
checked through a real uvicorn server with kubelet-like probe requests."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter.instrument import DEFAULT_EXCLUDE_PATHS, instrument
from tests.support.instrument_apps import scrape_text, serve_in_thread, total

PROBES = ["/health", "/healthz", "/ready", "/readyz", "/livez"]


def probe_app(registry: CollectorRegistry, **kwargs) -> Starlette:
    async def ok(request):
        return PlainTextResponse("ok")

    async def failing(request):
        return PlainTextResponse("not ready", status_code=503)

    routes = [Route(p, ok) for p in PROBES] + [Route("/work", ok), Route("/broken", failing)]
    return instrument(Starlette(routes=routes), "cpu", registry=registry, **kwargs)


def traffic(url: str) -> str:
    with httpx.Client(base_url=url, headers={"user-agent": "kube-probe/1.33"}) as c:
        for _ in range(5):
            for path in PROBES:
                assert c.get(path).status_code == 200
        assert c.get("/work").status_code == 200
        assert c.get("/broken").status_code == 503
        c.get("/metrics")
    return scrape_text(url + "/metrics")


def test_default_excludes_the_probe_paths_and_metrics():
    assert set(DEFAULT_EXCLUDE_PATHS) == {*PROBES, "/metrics"}
    with serve_in_thread(probe_app(CollectorRegistry())) as url:
        text = traffic(url)
    assert total(text, "http_requests_total") == 2  # /work and /broken only
    assert total(text, "http_requests_total", route="/broken", status="503") == 1
    for path in [*PROBES, "/metrics"]:
        assert f'route="{path}"' not in text, path
    # the SLO's error ratio is 1 in 2, not 1 in 27
    errors = total(text, "http_requests_total", status="503")
    assert errors / total(text, "http_requests_total") == pytest.approx(0.5)


def test_explicit_list_replaces_the_default():
    """The same traffic with nothing excluded counts the probes: the exclusion is real."""
    with serve_in_thread(probe_app(CollectorRegistry(), exclude_paths=())) as url:
        text = traffic(url)
    for path in PROBES:
        assert total(text, "http_requests_total", route=path, status="200") == 5, path
    assert 'route="/metrics"' not in text  # metrics_path is always excluded
