"""By property: random YAML documents (shaped like configs, with wrong values mixed in) and
random bytes fed to `exporter check-config` exit 0 or exit 2 with exactly one line and no
secret; whatever check-config accepts, every `generate` target accepts (check-config applies
the manifests' secret rules too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.cli_run import run_cli

SECRET = "hunter2-SeCrEt"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**31),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
number = st.one_of(
    st.integers(-3, 10**31),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1, 2, 5, 0.5, "x"]),
)
name = st.sampled_from(["main", "cpu", "gpu", "Bad_Name", ""])
dsn = st.sampled_from(
    [
        "postgresql://db/app",
        f"postgresql://app:{SECRET}@db/app",
        f"postgresql://db/app?password={SECRET}",
        f"host=db password={SECRET}",
        f"mysql://u:{SECRET} 2@h/db",
        f"postgresql://u:{SECRET}@ter2@db:5432/app",
    ]
)
url = st.sampled_from(
    [
        "redis://cache:6379/0",
        f"redis://:{SECRET}@cache:6379/0",
        f"redis://cache/0?password={SECRET}",
        f"http://x:{SECRET}@h",
    ]
)
queue = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["q-a", "q-b"]),
        "kind": st.sampled_from(["redis_list", "redis_zset", "postgres_query", "nope"]),
    },
    optional={
        "key": st.just("k"),
        "query": st.just("SELECT 1"),
        "target": name,
        "age_field": st.just("t"),
    },
)
component_class = st.fixed_dictionaries(
    {
        "name": name,
        "workload": st.fixed_dictionaries({"name": st.sampled_from(["w", "component-x"])}),
    },
    optional={
        "min_replicas": number,
        "max_replicas": number,
        "queues": st.lists(queue, max_size=2),
        "scale_on": st.lists(
            st.fixed_dictionaries(
                {"metric": st.just("queue_depth"), "target_average_value": number}
            ),
            max_size=1,
        ),
        "cpu_utilization": number,
        "behavior": st.fixed_dictionaries(
            {},
            optional={
                "scale_up": st.fixed_dictionaries({}, optional={"pods": number, "percent": number})
            },
        ),
    },
)
document = st.fixed_dictionaries(
    {},
    optional={
        "namespace": st.one_of(st.just("platform"), st.just("platform"), name, anything),
        "gpu": st.sampled_from(["on", "off", "auto", True, 3]),
        "collection": st.fixed_dictionaries(
            {}, optional={"interval_seconds": number, "timeout_seconds": number}
        ),
        "postgres": st.lists(
            st.fixed_dictionaries({"name": name, "dsn": dsn}, optional={"pool_size": number}),
            max_size=2,
        ),
        "redis": st.lists(st.fixed_dictionaries({"name": name, "url": url}), max_size=2),
        "component_classes": st.lists(component_class, max_size=2),
        "metrics_api": st.fixed_dictionaries(
            {},
            optional={
                "external": st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.sampled_from(["queue_depth", "x"]),
                            "source": st.sampled_from(["snapshot", "promql"]),
                        },
                        optional={
                            "fallback": number,
                            "window_seconds": number,
                            "query": st.just("sum(up)"),
                        },
                    ),
                    max_size=2,
                ),
                "stale_after_intervals": number,
            },
        ),
        "alerting": st.fixed_dictionaries(
            {}, optional={"thresholds": st.one_of(st.just({}), anything)}
        ),
    },
)
document = st.one_of(
    document,
    document,
    document,
    st.builds(lambda d, extra: {**d, "extra": extra}, document, anything),
    st.recursive(
        scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=8
    ),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _assert_check_config(content: bytes, folder: Path) -> bool:
    path = folder / "config.yaml"
    path.write_bytes(content)
    result = run_cli("check-config", "--config", str(path))
    assert result.code in (0, 2), result
    assert SECRET not in result.stdout + result.stderr
    if result.code == 2:
        assert result.stdout == "" and len(result.err_lines) == 1, result.stderr
        return False
    assert result.stderr == ""
    return True


def _assert_generators_accept(folder: Path) -> None:
    config = str(folder / "config.yaml")
    for what in ("dashboards", "alerts", "manifests"):
        out = folder / what
        result = run_cli("generate", what, "--config", config, "--out", str(out))
        assert SECRET not in result.stdout + result.stderr
        assert result.code == 0, (what, result)
        assert not any(SECRET in f.read_text() for f in out.rglob("*") if f.is_file())


@settings(SETTINGS, max_examples=100)
@given(document)
def test_random_config_documents(doc):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        accepted = _assert_check_config(yaml.safe_dump(doc, allow_unicode=True).encode(), folder)
        event("accepted" if accepted else "refused")
        if accepted:
            _assert_generators_accept(folder)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_random_bytes(content):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if _assert_check_config(content, folder):
            _assert_generators_accept(folder)


extreme_class = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["cpu", "gpu"]),
        "workload": st.fixed_dictionaries({"name": st.just("component-x")}),
        "min_replicas": st.sampled_from([1, 2]),
        "max_replicas": st.sampled_from([2, 100, 2**31 - 1]),
        "scale_on": st.just([])
        | st.lists(
            st.fixed_dictionaries(
                {
                    "metric": st.just("queue_depth"),
                    "target_average_value": st.sampled_from([0.001, 1e-9, 2.5, 9e15, 1234567.891]),
                }
            ),
            min_size=1,
            max_size=1,
        ),
        "behavior": st.fixed_dictionaries(
            {
                "scale_up": st.fixed_dictionaries(
                    {
                        "pods": st.sampled_from([1, 2**31 - 1]),
                        "percent": st.sampled_from([1, 2**31 - 1]),
                    }
                )
            }
        ),
    }
)


@settings(SETTINGS, max_examples=25)
@given(
    st.lists(extreme_class, min_size=1, max_size=2, unique_by=lambda c: c["name"]),
    st.sampled_from([None, 0, 9e15]),
)
def test_valid_configs_at_the_bounds_pass_every_generator(classes, fallback):
    external = {"name": "queue_depth", "source": "snapshot"}
    if fallback is not None:
        external["fallback"] = fallback
    doc = {
        "namespace": "platform",
        "component_classes": classes,
        "metrics_api": {"external": [external]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        assert _assert_check_config(yaml.safe_dump(doc).encode(), folder)
        _assert_generators_accept(folder)
