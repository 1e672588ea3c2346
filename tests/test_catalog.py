"""The catalog package: every entry module's specs are re-exported by name and indexed once."""

from __future__ import annotations

from types import ModuleType

import pytest

from exporter import catalog
from exporter.catalog import MetricSpec
from exporter.catalog.entry import metric


def test_every_entry_is_reexported_under_its_module_name() -> None:
    for module in catalog.MODULES:
        for name, value in vars(module).items():
            if isinstance(value, MetricSpec):
                assert getattr(catalog, name, None) is value, f"{module.__name__}.{name}"
                assert catalog.CATALOG[value.name] is value


def test_public_constants_of_entry_modules_are_reexported() -> None:
    # Label tuples and buckets (catalog.GPU_LABELS, catalog.LATENCY_BUCKETS) too.
    for module in catalog.MODULES:
        for name, value in vars(module).items():
            if name.isupper() and not name.startswith("_"):
                assert getattr(catalog, name) is value, f"{module.__name__}.{name}"


def test_catalog_holds_exactly_the_modules_specs() -> None:
    declared = {
        value.name
        for module in catalog.MODULES
        for value in vars(module).values()
        if isinstance(value, MetricSpec)
    }
    assert declared == set(catalog.CATALOG)


def _module(name: str, **entries: MetricSpec) -> ModuleType:
    module = ModuleType(name)
    vars(module).update(entries)
    return module


def test_one_metric_name_declared_twice_fails() -> None:
    a = _module("a", X=metric("dup_total", "counter", "one meaning"))
    b = _module("b", Y=metric("dup_total", "counter", "another meaning"))
    with pytest.raises(ValueError, match="'dup_total' is declared twice"):
        catalog._index((a, b))
    # The same object seen through two modules (one imports it from the other) is one entry.
    c = _module("c", X=vars(a)["X"])
    assert list(catalog._index((a, c))) == ["dup_total"]


def test_spec_names_an_unknown_metric() -> None:
    assert catalog.spec("pg_up") is catalog.PG_UP
    with pytest.raises(KeyError, match="'no_such_metric' is not in the catalog"):
        catalog.spec("no_such_metric")
