"""Request metrics through a real uvicorn server and real httpx clients."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from exporter.instrument import UNMATCHED, instrument, metrics_app, observe_batch
from tests.support.instrument_apps import (
    FlowFailed,
    Gate,
    build_app,
    build_root_path_app,
    scrape_text,
    series,
    serve_in_thread,
    total,
)
from tests.support.servers import wait_for

REQUESTS = "http_requests_total"


@pytest.fixture(scope="module")
def server():
    gate, raised = Gate(), []
    app = build_app(CollectorRegistry(), gate, raised)
    with serve_in_thread(app) as url:
        yield {"url": url, "gate": gate, "raised": raised}


def metrics(server) -> str:
    return scrape_text(server["url"] + "/metrics")


def test_route_templates_not_raw_paths(server) -> None:
    url = server["url"]
    before = metrics(server)
    ids = [uuid.uuid4().hex for _ in range(5)]
    with httpx.Client(base_url=url) as c:
        for flow in ids:
            assert c.get(f"/flows/{flow}/run").status_code == 200
        assert c.post(f"/flows/{ids[0]}/run").status_code == 200
        assert c.delete(f"/flows/{ids[0]}/run").status_code == 405
    after = metrics(server)
    route = "/flows/{flow_id}/run"

    def delta(**labels: str) -> float:
        return total(after, REQUESTS, **labels) - total(before, REQUESTS, **labels)

    assert delta(route=route, method="GET", status="200", component_class="gpu") == 5
    assert delta(route=route, method="POST", status="200") == 1
    assert delta(route=route, method="DELETE", status="405") == 1
    assert not any(i in after for i in ids)  # no raw path reached a label
    assert total(after, "http_request_duration_seconds_count", route=route, method="GET") >= 5


def test_mounted_apps_use_the_full_template(server) -> None:
    before = metrics(server)
    with httpx.Client(base_url=server["url"]) as c:
        assert c.get("/v1/acme/items/3").status_code == 200
        assert c.get("/v1/globex/items/4").status_code == 200
        assert c.get("/admin/users/42").status_code == 200
        assert c.get("/static/css/site.css").text == "static"
        assert c.get("/v1/acme/nothing-here").status_code == 404
    after = metrics(server)

    def delta(route: str, status: str = "200") -> float:
        return total(after, REQUESTS, route=route, status=status) - total(
            before, REQUESTS, route=route, status=status
        )

    assert delta("/v1/{tenant}/items/{item_id}") == 2
    assert delta("/admin/users/{user_id}") == 1
    assert delta("/static/{path:path}") == 1
    assert delta(UNMATCHED, "404") == 1
    for raw in ("acme", "globex", "site.css", "/admin/users/42"):
        assert raw not in after


def test_root_path_is_not_part_of_the_route() -> None:
    # uvicorn --root-path /api: the proxy strips /api, uvicorn puts it back into the
    # scope's path and root_path.
    registry = CollectorRegistry()
    with serve_in_thread(build_root_path_app(registry), root_path="/api") as url:
        assert httpx.get(url + "/flows/7/run").json() == {"flow": "7"}
        text = scrape_text(url + "/metrics")
    assert total(text, REQUESTS, route="/flows/{flow_id}/run", status="200") == 1
    assert total(text, REQUESTS, route=UNMATCHED) == 0
    assert "/api/flows" not in text


def test_unmatched_paths_and_methods_cannot_add_series(server) -> None:
    before = metrics(server)
    with httpx.Client(base_url=server["url"]) as c:
        for i in range(150):
            path = f"/scan/{uuid.uuid4().hex}/{i}"
            assert c.get(path).status_code == 404
        # methods the HTTP parser lets through (WebDAV and friends) but no route takes
        for i, m in enumerate(["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
                               "UNLOCK", "PURGE", "REPORT", "SEARCH"]):  # fmt: skip
            assert c.request(m, f"/wp-admin/{i}").status_code == 404
    after = metrics(server)
    new = [labels for labels in series(after, REQUESTS) if labels not in series(before, REQUESTS)]
    assert all(labels["route"] == UNMATCHED for labels in new)
    assert {(lb["method"], lb["status"]) for lb in new} <= {("GET", "404"), ("other", "404")}
    assert (
        total(after, REQUESTS, route=UNMATCHED, method="GET")
        - total(before, REQUESTS, route=UNMATCHED, method="GET")
        == 150
    )
    assert total(after, REQUESTS, route=UNMATCHED, method="other") - total(
        before, REQUESTS, route=UNMATCHED, method="other"
    ) == pytest.approx(10)
    assert "scan" not in after and "wp-admin" not in after


def test_in_flight_under_concurrency(server) -> None:
    gate: Gate = server["gate"]
    gate.open.clear()
    url = server["url"]
    route = "/slow/{job_id}"
    n = 6
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(httpx.get, f"{url}/slow/{i}", timeout=30) for i in range(n)]
        wait_for(
            lambda: total(metrics(server), "http_requests_in_flight", route=route) == n,
            timeout=20,
            what=f"{n} requests in flight",
        )
        # the scrape itself (an excluded path) is never counted
        assert total(metrics(server), "http_requests_in_flight", route="/metrics") == 0
        gate.open.set()
        assert all(f.result().status_code == 200 for f in futures)
    text = metrics(server)
    assert total(text, "http_requests_in_flight", route=route) == 0
    assert total(text, REQUESTS, route=route, status="200") == n


def test_exceptions_counted_and_reraised_untouched(server) -> None:
    raised: list[BaseException] = server["raised"]
    raised.clear()
    before = metrics(server)
    resp = httpx.get(server["url"] + "/boom")
    assert resp.status_code == 500
    after = metrics(server)
    labels = {"route": "/boom", "exception": "FlowFailed", "component_class": "gpu"}
    exc_name = "http_request_exceptions_total"
    assert total(after, exc_name, **labels) - total(before, exc_name, **labels) == 1
    assert (
        total(after, REQUESTS, route="/boom", status="500")
        - total(before, REQUESTS, route="/boom", status="500")
        == 1
    )
    # raised[0] by the handler, raised[1] seen by the middleware outside ours: same object
    assert len(raised) == 2 and isinstance(raised[0], FlowFailed) and raised[1] is raised[0]
    assert raised[1].__traceback__ is not None


def test_excluded_paths_are_not_measured(server) -> None:
    before = metrics(server)
    with httpx.Client(base_url=server["url"]) as c:
        for _ in range(3):
            assert c.get("/healthz").status_code == 200
            assert c.get("/metrics").status_code == 200
    after = metrics(server)
    assert total(after, REQUESTS, route="/healthz") == 0
    assert total(after, REQUESTS, route="/metrics") == 0
    assert total(after, REQUESTS) - total(before, REQUESTS) == 0


def test_batch_sizes(server) -> None:
    before = metrics(server)
    with httpx.Client(base_url=server["url"]) as c:
        assert c.post("/batch", json=list(range(7))).json() == {"n": 7}
        assert c.post("/batch", json=list(range(100))).json() == {"n": 100}
    after = metrics(server)
    labels = {"route": "/batch", "component_class": "gpu"}
    assert total(after, "batch_size_count", **labels) - total(
        before, "batch_size_count", **labels
    ) == pytest.approx(2)
    assert total(after, "batch_size_sum", **labels) - total(
        before, "batch_size_sum", **labels
    ) == pytest.approx(107)
    # 7 lands in le=8, 100 in le=128 but not le=64
    bucket = "batch_size_bucket"
    assert total(after, bucket, le="8.0", **labels) - total(before, bucket, le="8.0", **labels) == 1
    assert total(after, bucket, le="64.0", **labels) - total(
        before, bucket, le="64.0", **labels
    ) == pytest.approx(1)


def test_observe_batch_needs_an_instrumented_request() -> None:
    with pytest.raises(LookupError, match="did not pass through"):
        observe_batch({"type": "http"}, 3)
    with pytest.raises(ValueError, match="size"):
        observe_batch("/x", -1, component_class="cpu")
    registry = CollectorRegistry()
    observe_batch("/jobs", 12, component_class="memory", registry=registry)
    assert registry.get_sample_value(
        "batch_size_sum", {"component_class": "memory", "route": "/jobs"}
    ) == pytest.approx(12)


def test_metrics_content_negotiation(server) -> None:
    text = httpx.get(server["url"] + "/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    om = httpx.get(
        server["url"] + "/metrics",
        headers={"accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    assert "# UNIT http_request_duration_seconds seconds" in om.text


def test_plain_starlette_app_and_bad_arguments() -> None:
    async def hello(request):
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello/{name}", hello)])
    registry = CollectorRegistry()
    instrument(app, "memory", registry=registry)
    with serve_in_thread(app) as url:
        assert httpx.get(url + "/hello/bob").text == "hi"
        text = scrape_text(url + "/metrics")
    assert total(text, REQUESTS, route="/hello/{name}", component_class="memory") == 1
    with pytest.raises(TypeError, match="FastAPI or Starlette"):
        instrument(object(), "cpu")
    with pytest.raises(ValueError, match="component_class"):
        instrument(Starlette(), "")
    with pytest.raises(ValueError, match="must start with"):
        instrument(Starlette(), "cpu", exclude_paths=("healthz",))


def test_instrumenting_twice_is_refused() -> None:
    app = Starlette()
    instrument(app, "cpu", registry=CollectorRegistry())
    with pytest.raises(RuntimeError, match="already instrumented"):
        instrument(app, "cpu", registry=CollectorRegistry())


async def test_metrics_app_mounts_anywhere() -> None:
    registry = CollectorRegistry()
    observe_batch("/jobs", 3, component_class="cpu", registry=registry)
    app = Starlette(routes=[Mount("/internal/metrics", metrics_app(registry))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        resp = await client.get("/internal/metrics/")
        om = await client.get(
            "/internal/metrics/", headers={"accept": "application/openmetrics-text"}
        )
        post = await client.post("/internal/metrics/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert total(resp.text, "batch_size_count", route="/jobs") == 1
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert post.status_code == 405
