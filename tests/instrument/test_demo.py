"""The demo app under real uvicorn with demo.traffic: the metrics a new user should see move."""

from __future__ import annotations

from tests.support.instrument_apps import scrape_text, serve_in_thread, total
from tests.support.servers import wait_for


def test_demo_app_and_traffic(capsys) -> None:
    from demo import traffic
    from demo.app import COMPONENT_CLASS, app

    with serve_in_thread(app) as url:
        assert traffic.main(["--url", url, "--seconds", "2", "--concurrency", "3"]) == 0
        # abandoned streams end when the server notices the disconnect
        wait_for(
            lambda: total(scrape_text(url + "/metrics"), "http_requests_in_flight") == 0,
            what="no request in flight",
        )
        text = scrape_text(url + "/metrics")
        om = scrape_text(url + "/metrics", openmetrics=True)
    out = capsys.readouterr().out
    assert "requests in 2s" in out
    labels = {"component_class": COMPONENT_CLASS}
    assert total(text, "http_requests_total", route="/v1/flows/{flow_id}/run", **labels) > 0
    assert total(text, "http_requests_total", route="/v1/embed", **labels) > 0
    assert total(text, "batch_size_count", route="/v1/embed", **labels) > 0
    assert total(text, "sse_events_total", route="/v1/chat/stream", **labels) > 0
    assert total(text, "sse_first_event_seconds_count", route="/v1/chat/stream", **labels) > 0
    assert 'trace_id="' in om  # tracing is on in the demo: exemplars
