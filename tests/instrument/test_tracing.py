"""OpenTelemetry tracing: trace ids as exemplars on the latency histogram."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from sse_starlette.sse import EventSourceResponse

from exporter.instrument import instrument
from tests.support.instrument_apps import scrape_text, serve_in_thread, total

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_trace_id_exemplars_in_openmetrics_and_no_per_chunk_spans() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = FastAPI()
    instrument(app, "gpu", registry=CollectorRegistry(), tracing=True, tracer_provider=provider)

    @app.get("/flows/{flow_id}/run")
    async def run(flow_id: str) -> dict:
        return {"flow": flow_id}

    @app.get("/stream")
    async def stream() -> EventSourceResponse:
        async def events():
            for i in range(20):
                yield {"data": str(i)}

        return EventSourceResponse(events())

    with serve_in_thread(app) as url:
        resp = httpx.get(url + "/flows/1/run", headers={"traceparent": TRACEPARENT})
        assert resp.status_code == 200
        assert httpx.get(url + "/stream").status_code == 200
        om = scrape_text(url + "/metrics", openmetrics=True)
        text = scrape_text(url + "/metrics")

    # The caller's trace id (from its traceparent header) is the exemplar of the bucket
    # the request landed in, and OpenMetrics parses it.
    exemplars = [
        s.exemplar
        for family in text_string_to_metric_families(om)
        for s in family.samples
        if s.name == "http_request_duration_seconds_bucket"
        and s.labels["route"] == "/flows/{flow_id}/run"
        and s.exemplar is not None
    ]
    assert len(exemplars) == 1
    assert exemplars[0].labels == {"trace_id": TRACE_ID}
    assert 0 < exemplars[0].value < 5
    # the plain text format carries no exemplars and stays parseable
    assert "trace_id" not in text
    assert total(text, "http_requests_total", route="/flows/{flow_id}/run") == 1

    # One server span per request, named by route template, none per send/receive: a
    # 20-event stream makes one span, not 20 more.
    finished = spans.get_finished_spans()
    names = sorted(s.name for s in finished)
    assert names == ["GET /flows/{flow_id}/run", "GET /stream"], names
    run_span = next(s for s in finished if s.name == "GET /flows/{flow_id}/run")
    assert format(run_span.context.trace_id, "032x") == TRACE_ID
    # the scrape is excluded from tracing as it is from metrics
    assert not any("metrics" in n for n in names)


def test_unsampled_requests_get_no_exemplar() -> None:
    app = FastAPI()
    instrument(
        app, "cpu", registry=CollectorRegistry(), tracing=True, tracer_provider=TracerProvider()
    )

    @app.get("/x")
    async def x() -> dict:
        return {}

    with serve_in_thread(app) as url:
        unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
        assert httpx.get(url + "/x", headers={"traceparent": unsampled}).status_code == 200
        om = scrape_text(url + "/metrics", openmetrics=True)
    assert "trace_id" not in om


async def test_plain_starlette_app_gets_exemplars_too() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request):
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello/{name}", hello)])
    instrument(
        app, "memory", registry=CollectorRegistry(), tracing=True, tracer_provider=TracerProvider()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/hello/bob", headers={"traceparent": TRACEPARENT})).text == "hi"
        om = (await client.get("/metrics", headers={"accept": "application/openmetrics-text"})).text
    [line] = [line for line in om.splitlines() if "trace_id" in line]
    assert 'route="/hello/{name}"' in line and f'trace_id="{TRACE_ID}"' in line
