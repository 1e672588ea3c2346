"""Unit tests: label selector grammar and matching (k8s.io/apimachinery/pkg/labels semantics),
Quantity formatting, Accept negotiation, PromQL rendering, ApiMetric config errors."""

from __future__ import annotations

import math

import pytest

from exporter.config import ApiMetric
from exporter.metrics_api.app import accepts_json, rfc3339
from exporter.metrics_api.providers.promql import render_query
from exporter.metrics_api.quantity import UnrepresentableValue, format_quantity, parse_quantity
from exporter.metrics_api.selectors import (
    SelectorError,
    parse,
    prometheus_label,
    to_label_selector,
    to_promql_matchers,
)

LABELS = {"component_class": "gpu", "queue": "jobs-gpu", "tier": "", "replicas": "3"}


# --- selector matching ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "selector, expected",
    [
        ("", True),
        ("component_class=gpu", True),
        ("component_class==gpu", True),
        ("component_class=cpu", False),
        ("component_class!=cpu", True),
        ("component_class!=gpu", False),
        ("missing!=x", True),  # != passes when the key is absent
        ("component_class in (cpu,gpu)", True),
        ("component_class in (cpu)", False),
        ("missing in (a)", False),
        ("component_class notin (cpu)", True),
        ("component_class notin (gpu,cpu)", False),
        ("missing notin (a)", True),  # notin passes when the key is absent
        ("queue", True),  # exists
        ("missing", False),
        ("!missing", True),  # does not exist
        ("!queue", False),
        ("tier", True),  # an empty value still exists
        ("tier=", True),  # and equals the empty string
        ("tier in ()", True),  # `()` is the set {""}
        ("replicas>2", True),
        ("replicas>3", False),
        ("replicas<4", True),
        ("component_class>1", False),  # not an integer: no match
        ("component_class=gpu,queue=jobs-gpu", True),  # AND
        ("component_class=gpu,queue=other", False),
        ("component_class=gpu, !missing ,queue in (a,jobs-gpu)", True),
        ("component_class in (in)", False),  # `in` is a plain word in a value position
    ],
)
def test_selector_matching(selector, expected):
    assert parse(selector).matches(LABELS) is expected


def test_selector_values_may_be_keywords_and_keys_may_have_prefixes():
    sel = parse("x in (in,notin),app.kubernetes.io/name=engine")
    assert sel.matches({"x": "notin", "app.kubernetes.io/name": "engine"})
    assert str(sel) == "app.kubernetes.io/name=engine,x in (in,notin)"  # sorted by key


@pytest.mark.parametrize(
    "selector, fragment",
    [
        ("a=b=c", "expected: ',' or 'end of string'"),
        ("!a=b", "expected: ',' or 'end of string'"),
        ("a in b", "expected: '('"),
        ("a in (b", "expected: ',' or ')'"),
        ("a in (b c)", "expected: ',' or ')'"),
        ("a,", "identifier after ','"),
        (",a", "expected: !, identifier"),
        ("=b", "expected: !, identifier"),
        ("a b", "expected: in, notin"),
        ("a=(b)", "expected: identifier"),
        ("a>b", "must be an integer"),
        ("a!b", "expected: in, notin"),
        ("A/b=c", "prefix part must be a lowercase RFC 1123 subdomain"),
        ("a/b/c=d", "optional DNS subdomain prefix"),
        ("-a=b", "name part must consist of"),
        ("a" * 64 + "=b", "no more than 63 characters"),
        ("a=" + "v" * 64, "no more than 63 characters"),
        ("a=-v", "must be an empty string or consist of"),
        ("a=jobs:gpu", "must be an empty string or consist of"),  # ':' is not a label character
        ("/a=b", "prefix part must be non-empty"),
    ],
)
def test_malformed_selectors_raise_with_a_reason(selector, fragment):
    with pytest.raises(SelectorError, match="unable to parse requirement") as err:
        parse(selector)
    assert fragment in str(err.value)


def test_exact_labels_of_a_selector():
    assert parse("a=1,b==2,c in (3),d in (4,5),e!=6,f").exact() == {"a": "1", "b": "2", "c": "3"}


def test_label_selector_json_like_metav1_parse_to_label_selector():
    sel = parse("a=1,b in (y,x),c notin (z),d,!e,f!=g")
    assert to_label_selector(sel) == {
        "matchLabels": {"a": "1"},
        "matchExpressions": [
            {"key": "b", "operator": "In", "values": ["x", "y"]},
            {"key": "c", "operator": "NotIn", "values": ["z"]},
            {"key": "d", "operator": "Exists"},
            {"key": "e", "operator": "DoesNotExist"},
            {"key": "f", "operator": "NotIn", "values": ["g"]},
        ],
    }
    assert to_label_selector(parse("")) == {}
    with pytest.raises(SelectorError):
        to_label_selector(parse("n>1"))


def test_promql_matchers_keep_the_selector_meaning():
    sel = parse("app.kubernetes.io/name=engine,a!=1,b in (x.y,z),c notin (q),d,!e")
    assert to_promql_matchers(sel) == (
        'a!="1",app_kubernetes_io_name="engine",b=~"x\\\\.y|z",c!~"q",d!="",e=""'
    )
    assert to_promql_matchers(parse("")) == ""
    assert prometheus_label("app.kubernetes.io/part-of") == "app_kubernetes_io_part_of"


def test_render_query_fills_only_known_placeholders():
    q = 'sum(x{namespace="{namespace}",{selector}}) by (pod) + on() vector({other})'
    assert render_query(q, {"namespace": "ns", "selector": 'a="b"'}) == (
        'sum(x{namespace="ns",a="b"}) by (pod) + on() vector({other})'
    )


# --- quantities -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0"),
        (1.5, "1500m"),
        (2, "2"),
        (2.0, "2"),
        (0.1, "100m"),
        (0.001, "1m"),
        (0.0004, "0"),  # below milli precision: the HPA reads MilliValue()
        (0.0005, "1m"),
        (1500, "1500"),
        (2000, "2k"),
        (1234567.891, "1234567891m"),
        (3e6, "3M"),
        (9e15, "9P"),
        (1.5e15, "1500T"),
        (-3, "0"),  # negatives are clamped (documented policy)
        (-0.0, "0"),
    ],
)
def test_format_quantity(value, text):
    assert format_quantity(value) == text
    assert math.isclose(parse_quantity(text), max(0.0, round(value, 3)), rel_tol=1e-12)


# beyond +/-9.2e15 the HPA's MilliValue() (an int64 of thousandths) would overflow
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e18, 1e308, -1e30])
def test_nan_and_infinities_are_unrepresentable(value):
    with pytest.raises(UnrepresentableValue):
        format_quantity(value)


@pytest.mark.parametrize(
    "text, value", [("1500m", 1.5), ("2k", 2000), ("1Ki", 1024), ("250u", 0.00025), ("7", 7)]
)
def test_parse_quantity(text, value):
    assert math.isclose(parse_quantity(text), value)


def test_parse_quantity_rejects_garbage():
    with pytest.raises(ValueError):
        parse_quantity("1.5x")


# --- Accept negotiation, timestamps, config ---------------------------------------------------
@pytest.mark.parametrize(
    "accept, ok",
    [
        (None, True),
        ("", True),
        ("*/*", True),
        ("application/json", True),
        ("application/json;as=Table;v=v1;g=meta.k8s.io, application/json", True),
        ("application/vnd.kubernetes.protobuf, */*", True),
        ("text/html,application/*;q=0.1", True),
        ("application/vnd.kubernetes.protobuf", False),
        ("text/plain", False),
        ("application/json;q=0", False),
        ("application/json;q=0,*/*", False),
        ("*/*;q=0", False),
    ],
)
def test_accepts_json(accept, ok):
    assert accepts_json(accept) is ok


def test_rfc3339_is_utc_whole_seconds():
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1700000000.987) == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"source": "promql"}, "needs query"),
        ({"source": "snapshot", "query": "up"}, "takes no query"),
        (
            {"source": "snapshot", "metric": "nope_total"},
            "not a gauge or counter in the metric catalog",
        ),
        ({"source": "promql", "query": "up", "metric": "queue_depth"}, "takes no metric"),
        ({"source": "snapshot", "fallback": -1}, "finite number >= 0"),
        ({"source": "snapshot", "window_seconds": 0}, "greater than 0"),
    ],
)
def test_api_metric_config_errors(fields, message):
    with pytest.raises(ValueError, match=message):
        ApiMetric(name="queue_depth", **fields)
