"""The selector parser against the Kubernetes grammar (k8s.io/apimachinery/pkg/labels), by
property: selectors built from the grammar parse to what they say and round-trip; any text
is either a selector or a 400 `Status` from the real app, never a 500."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.metrics_api.app import create_app
from exporter.metrics_api.selectors import SelectorError, parse
from exporter.snapshot import Snapshot
from tests.support.metrics_api_harness import build_config
from tests.support.servers import free_port

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_name = st.builds(
    lambda first, mid, last: first + mid + last if mid or last else first,
    st.sampled_from(ALNUM),
    st.text(ALNUM + "-_.", max_size=8),
    st.sampled_from(ALNUM) | st.just(""),
).filter(lambda s: s[-1] in ALNUM)
_prefix = st.lists(
    st.text("abcdefghij0123456789", min_size=1, max_size=5), min_size=1, max_size=3
).map(".".join)
KEY = st.one_of(_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _name))
VALUE = st.one_of(st.just(""), _name)
INT = st.integers(0, 10**6).map(str)  # Go validates it as a label value too: no sign

REQUIREMENT = st.one_of(
    st.builds(lambda k, op, v: f"{k}{op}{v}", KEY, st.sampled_from(["=", "==", "!="]), VALUE),
    st.builds(
        lambda k, op, vs: f"{k} {op} ({','.join(vs)})",
        KEY,
        st.sampled_from(["in", "notin"]),
        st.lists(_name, min_size=1, max_size=4),
    ),
    KEY,
    KEY.map(lambda k: "!" + k),
    st.builds(lambda k, op, n: f"{k}{op}{n}", KEY, st.sampled_from(["<", ">"]), INT),
)
SELECTOR = st.lists(REQUIREMENT, min_size=0, max_size=5).map(",".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(SELECTOR)
def test_grammar_selectors_parse_and_round_trip(text):
    selector = parse(text)
    assert len(selector.requirements) == (
        text.count(",") - _commas_in_sets(text) + 1 if text else 0
    )
    assert parse(str(selector)) == selector


def _commas_in_sets(text: str) -> int:
    depth = count = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        count += ch == "," and depth > 0
    return count


_app_client: httpx.AsyncClient | None = None


def _client() -> httpx.AsyncClient:
    global _app_client
    if _app_client is None:
        app = create_app(build_config(None, free_port()), Snapshot(), lambda: True, None)
        _app_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a")
    return _app_client


async def _get(selector: str) -> httpx.Response:
    return await _client().get(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth",
        params={"labelSelector": selector},
    )


@SETTINGS
@given(st.one_of(SELECTOR, st.text("ab=!,()<> in notin/.-_0\t", max_size=30), st.text(max_size=20)))
def test_any_text_is_a_selector_or_a_400_never_a_500(text):
    try:
        parse(text)
        valid = True
    except SelectorError:
        valid = False
    resp = asyncio.run(_get(text))
    body = resp.json()
    if valid:
        assert resp.status_code == 200, body
    else:
        assert resp.status_code == 400 and body["kind"] == "Status", body
        assert body["reason"] == "BadRequest"
