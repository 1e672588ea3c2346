"""Every malformed metrics-API request gets a `Status` with the right code, never a 500:
over the real HTTPS listener where the server lets the request through, and in process for
what a server would refuse before the app (a custom method, oversized headers)."""

from __future__ import annotations

import time

import httpx
import pytest

from exporter import catalog
from exporter.metrics_api.app import create_app
from exporter.metrics_api.selectors import SELECTOR_CACHE, parse
from exporter.snapshot import Sample, Snapshot
from tests.support.metrics_api_harness import build_config, client, make_pki, running_api
from tests.support.servers import free_port

EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform"


def _q(component_class: str, queue: str, value: float) -> Sample:
    return Sample(catalog.QUEUE_DEPTH, {"component_class": component_class, "queue": queue}, value)


def _status(resp: httpx.Response, code: int, reason: str) -> dict:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason
    return body


@pytest.fixture
async def api(tmp_path):
    pki = make_pki(tmp_path)
    async with running_api(build_config(pki, free_port())) as running:
        running.snapshot.replace("queues", [_q("gpu", "a", 5), _q("cpu", "b", 2)], now=time.time())
        async with client(pki, pki.proxy) as c:
            running.client = c  # type: ignore[attr-defined]
            yield running


async def test_encoded_slash_does_not_split_the_path(api):
    resp = await api.client.get(
        api.url + "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform%2Fqueue_depth"
    )
    body = _status(resp, 400, "BadRequest")
    assert "encoded '/'" in body["message"]
    resp = await api.client.get(api.url + EXT + "/queue%5Fdepth")  # decoded once: queue_depth
    assert resp.status_code == 200


async def test_bad_percent_encoding_is_400(api):
    resp = await api.client.get(api.url + EXT + "/queue%ffdepth")
    assert "not UTF-8" in _status(resp, 400, "BadRequest")["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_write_methods_are_405(api, method):
    resp = await api.client.request(method, api.url + EXT + "/queue_depth")
    _status(resp, 405, "MethodNotAllowed")


async def test_long_path_and_query_are_414(api):
    resp = await api.client.get(api.url + EXT + "/" + "q" * 3000)
    _status(resp, 414, "RequestURITooLong")
    resp = await api.client.get(
        api.url + EXT + "/queue_depth", params={"labelSelector": "a=" + "b" * 9000}
    )
    _status(resp, 414, "RequestURITooLong")


@pytest.mark.parametrize(
    "selector", ["a=(", "a in b", "=x", "a==b==c", "!", "a,", "a notin ()x", "a<b", "k=" + "v" * 64]
)
async def test_unparsable_selectors_are_400(api, selector):
    resp = await api.client.get(api.url + EXT + "/queue_depth", params={"labelSelector": selector})
    _status(resp, 400, "BadRequest")


@pytest.mark.parametrize(
    "selector, queues",
    [
        ("component_class in (cpu,gpu),queue notin (x)", ["a", "b"]),
        ("component_class!=gpu", ["b"]),
        ("component_class==gpu", ["a"]),
        ("queue,!pod", ["a", "b"]),
        ("!queue", []),
        ("a<5", []),  # no such label: `<` never matches it, as in Go
        ("queue>1", []),
    ],
)
async def test_snapshot_source_takes_the_whole_selector_grammar(api, selector, queues):
    resp = await api.client.get(api.url + EXT + "/queue_depth", params={"labelSelector": selector})
    assert resp.status_code == 200, resp.text
    assert sorted(i["metricLabels"]["queue"] for i in resp.json()["items"]) == queues


def _in_process():
    config = build_config(None, free_port())
    snapshot = Snapshot()
    app = create_app(config, snapshot, lambda: True, None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_custom_method_is_405_with_allow():
    # huge heads are the server's to refuse (listen.max_head_bytes): test_server_errors.py
    async with _in_process() as c:
        resp = await c.request("FROBNICATE", EXT + "/queue_depth")
        _status(resp, 405, "MethodNotAllowed")
        assert resp.headers["allow"] == "GET, HEAD"


def test_selector_cache_is_bounded_by_bytes():
    SELECTOR_CACHE.entries.clear()
    SELECTOR_CACHE.used = 0
    big = [f"k{i} in ({','.join(f'v{j}' for j in range(6000))})" for i in range(5)]  # ~40 KB each
    for text in big:
        assert len(parse(text).requirements[0].values) == 6000
    small = [f"component_class=c{i}" for i in range(5000)]
    for text in small:
        parse(text)
    assert SELECTOR_CACHE.used <= SELECTOR_CACHE.budget
    assert not any(text in SELECTOR_CACHE.entries for text in big)  # too big to keep
    assert small[-1] in SELECTOR_CACHE.entries and small[0] not in SELECTOR_CACHE.entries
    assert parse(small[-1]) is parse(small[-1])  # a hit is the cached object
