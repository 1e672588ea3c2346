"""The Helm chart's PrometheusRule as a template: the alert generator's rule groups with a
token wherever a config value appears, and what the chart puts there.

The rules are rendered once, here, from the embedded default config with these stand-ins:
- the config strings the rules quote (environment, namespace, job, URLs, the
  `alerting.thresholds` durations) as `@@<name>@@`;
- each numeric `alerting.thresholds` value as a float (int) that records the arithmetic done
  with it (`x * 100`, `1 - x`) and writes `@@nN@@` when formatted (`num()`'s `.10g`);
  the chart redoes that arithmetic on the config's value (sprig's `mulf`/`subf`...) and
  formats it with the same printf verb (Go's `%.10g` is C's, as Python's is);
- the registered metrics groups' regex as `@@apiservices@@`, and how the pod alerts match
  the platform's namespaces (`="ns"`, or `=~"a|b"` with classes elsewhere) as
  `@@namespace_match@@` (a second render, with a class in a namespace of its own, must
  differ only there).

Groups that an alerting switch adds (`ingress_controller: nginx`) are rendered with it on
and kept by the chart only when the config has it. `burn_rates` (the rule set's shape:
windows, recording rules) is not templated: the chart renders the rules only for the
default windows (files/rule-inputs.json), and a config that changes them fails the render
naming the field. Anything a stand-in cannot follow
(two thresholds combined, str() of one, a format Go lacks) raises TypeError here, and
putting the default's values back must give the default's rules exactly (AssertionError
otherwise), so a generator change the template cannot express fails `make chart`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from exporter.config import Config, load_config
from exporter.generators import alerts
from exporter.generators.k8s.apiservice import registered_groups

RULE_INPUTS = ("burn_rates",)  # alerting fields that shape the rules, not templated
# alerting fields whose value adds rule groups: the groups are rendered for VALUE and kept
# by the chart only when the config has it
GROUP_SWITCHES = {"ingress_controller": "nginx"}
_GO_FORMAT = re.compile(r"^\.\d+[efg]$")  # Python format specs printf writes the same way
_OPS = {  # op -> how Python computes it (the chart: mulf, addf, subf, divf; r* swaps sides)
    "mul": lambda x, c: x * c,
    "add": lambda x, c: x + c,
    "sub": lambda x, c: x - c,
    "rsub": lambda x, c: c - x,
    "div": lambda x, c: x / c,
    "rdiv": lambda x, c: c / x,
}


def placeholder(key: str) -> str:
    return f"@@{key}@@"


class _Tokens:
    """The numeric tokens written so far: name -> {field, ops, format}."""

    def __init__(self) -> None:
        self.numbers: dict[str, dict[str, Any]] = {}

    def token(self, field: str, ops: tuple[tuple[str, float], ...], fmt: str) -> str:
        name = f"n{len(self.numbers)}"
        self.numbers[name] = {"field": field, "ops": [list(op) for op in ops], "format": fmt}
        return placeholder(name)


class _Threshold(float):
    """A numeric threshold standing in for the config's value (see the module docstring)."""

    def __new__(cls, value: float, field: str, tokens: _Tokens, ops: tuple = ()) -> _Threshold:
        obj = super().__new__(cls, value)
        obj.field, obj.tokens, obj.ops = field, tokens, ops
        return obj

    def _op(self, op: str, other: Any) -> Any:
        if isinstance(other, _Threshold | _IntThreshold):
            raise TypeError(f"thresholds.{self.field}: combined with another threshold")
        if isinstance(other, bool) or not isinstance(other, int | float):
            return NotImplemented
        value = _OPS[op](float(self), float(other))
        return _Threshold(value, self.field, self.tokens, (*self.ops, (op, float(other))))

    def __mul__(self, other: Any) -> Any:
        return self._op("mul", other)

    __rmul__ = __mul__

    def __add__(self, other: Any) -> Any:
        return self._op("add", other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return self._op("sub", other)

    def __rsub__(self, other: Any) -> Any:
        return self._op("rsub", other)

    def __truediv__(self, other: Any) -> Any:
        return self._op("div", other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._op("rdiv", other)

    def __format__(self, spec: str) -> str:
        if not _GO_FORMAT.match(spec):
            raise TypeError(f"thresholds.{self.field}: format {spec!r} has no printf twin")
        return self.tokens.token(self.field, self.ops, "%" + spec)

    def __str__(self) -> str:
        raise TypeError(f"thresholds.{self.field}: str() of a threshold; format it (num())")

    __repr__ = __str__

    def _unsupported(self, *_: Any) -> Any:
        raise TypeError(f"thresholds.{self.field}: an operation the chart cannot redo")

    __neg__ = __pos__ = __abs__ = __pow__ = __rpow__ = __floordiv__ = __rfloordiv__ = _unsupported
    __mod__ = __rmod__ = __round__ = __int__ = _unsupported


class _IntThreshold(int):
    """An integer threshold: it may only be written as is (`f"{x}"`)."""

    def __new__(cls, value: int, field: str, tokens: _Tokens) -> _IntThreshold:
        obj = super().__new__(cls, value)
        obj.field, obj.tokens = field, tokens
        return obj

    def __format__(self, spec: str) -> str:
        if spec not in ("", "d"):
            raise TypeError(f"thresholds.{self.field}: format {spec!r} has no printf twin")
        return self.tokens.token(self.field, (), "%d")

    def _unsupported(self, *_: Any) -> Any:
        raise TypeError(f"thresholds.{self.field}: an operation the chart cannot redo")

    __str__ = __repr__ = _unsupported
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unsupported
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = __pow__ = _unsupported


def apiservice_regex(config: Config) -> str:
    """The alternation of the registered groups that the apiservice alerts match on."""
    return "|".join(g.replace(".", "\\\\.") for g in registered_groups(config))


def namespace_match(namespaces: list[str]) -> str:
    """How the pod alerts match the platform's namespaces: one exactly, several by regex."""
    if len(namespaces) == 1:
        return f'="{namespaces[0]}"'
    return f'=~"{"|".join(namespaces)}"'


_OTHER_NAMESPACE = "@@other_namespace@@"  # a class's own namespace, in the stand-in render


def _with_class_namespace(config: Config) -> Config:
    """`config` with one more class, in a namespace of its own (another namespace to match)."""
    extra = config.component_classes[0].model_copy(
        update={"name": "other", "namespace": _OTHER_NAMESPACE}
    )
    return config.model_copy(update={"component_classes": [*config.component_classes, extra]})


def _render(config: Config, tokens: _Tokens, base: Config) -> str:
    """The rule groups of the stand-ins for `config`, as JSON text with the placeholders."""
    marked = _stand_ins(config, tokens)
    text = json.dumps(alerts.rule_groups(marked))
    # the regex of the registered metrics groups (exporter.apiservices; the chart leaves
    # the group out when none is registered)
    text = text.replace(json.dumps(apiservice_regex(base))[1:-1], placeholder("apiservices"))
    # the namespaces the pod alerts match: `="ns"`, or `=~"a|b"` once classes live elsewhere
    match = namespace_match(marked.namespaces)
    return text.replace(json.dumps(match)[1:-1], placeholder("namespace_match"))


def rule_strings(config: Config) -> dict[str, str]:
    """The config strings the rule groups quote, by placeholder (the chart computes the same)."""
    t = config.alerting.thresholds
    strings = {
        "environment": config.environment,
        "namespace": config.namespace,
        "exporter_job": config.exporter_job,
        "grafana_url": config.alerting.grafana_url,
        "runbook_base_url": config.alerting.runbook_base_url,
        "apiservices": apiservice_regex(config),
        "namespace_match": namespace_match(config.namespaces),
    }
    for field in type(t).model_fields:
        if isinstance(getattr(t, field), str):
            strings[f"t.{field}"] = getattr(t, field)
    return strings


def _stand_ins(base: Config, tokens: _Tokens) -> Config:
    t = base.alerting.thresholds
    values: dict[str, Any] = {}
    for field in type(t).model_fields:
        value = getattr(t, field)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            values[field] = _IntThreshold(value, field, tokens)
        elif isinstance(value, float):
            values[field] = _Threshold(value, field, tokens)
        elif isinstance(value, str):
            values[field] = placeholder(f"t.{field}")
    alerting = base.alerting.model_copy(
        update={
            "thresholds": t.model_copy(update=values),
            **{k: placeholder(k) for k in ("exporter_job", "grafana_url", "runbook_base_url")},
        }
    )
    return base.model_copy(
        update={
            "environment": placeholder("environment"),
            "namespace": placeholder("namespace"),
            "alerting": alerting,
        }
    )


def _python_value(config: Config, number: dict[str, Any]) -> str:
    """What the chart writes for a numeric token, computed here (decimal, as sprig does)."""
    value = Decimal(repr(getattr(config.alerting.thresholds, number["field"])))
    for op, c in number["ops"]:
        value = _OPS[op](value, Decimal(repr(c)))
    return number["format"] % (int(value) if number["format"] == "%d" else float(value))


def fill(text: str, config: Config, numbers: dict[str, dict[str, Any]]) -> str:
    """The template's JSON text with `config`'s values put in (the chart's job, in Python)."""
    for name, number in numbers.items():
        text = text.replace(placeholder(name), _python_value(config, number))
    for key, value in rule_strings(config).items():
        text = text.replace(placeholder(key), json.dumps(value)[1:-1])
    return text


def _with(config: Config, **alerting: Any) -> Config:
    return config.model_copy(update={"alerting": config.alerting.model_copy(update=alerting)})


def rule_template() -> dict[str, Any]:
    """The chart's rule files as data: `rule-groups.json` (the groups with tokens),
    `rule-numbers.json` (token -> field, arithmetic, printf verb), `rule-inputs.json` (the
    structural alerting fields they hold for), `rule-switches.json` (group -> the alerting
    field values that keep it)."""
    base = load_config(None, environ={})
    switched = _with(base, **GROUP_SWITCHES)
    tokens, other = _Tokens(), _Tokens()
    text = _render(switched, tokens, base)
    if _render(_with_class_namespace(switched), other, base) != text:
        raise AssertionError("the rules depend on the classes' namespaces beyond their match")
    groups = json.loads(text)
    plain = {g["name"] for g in alerts.rule_groups(base)}
    switches = {
        g["name"]: dict(GROUP_SWITCHES) for g in groups if g["name"] not in plain
    }  # one switch today; two would need a render per combination
    kept = json.dumps([g for g in groups if g["name"] not in switches])
    for config, candidate in ((switched, text), (base, kept)):
        if json.loads(fill(candidate, config, tokens.numbers)) != alerts.rule_groups(config):
            raise AssertionError("a rule uses a config value in a way the chart cannot template")
    inputs = base.alerting.model_dump(mode="json", include=set(RULE_INPUTS))
    return {
        "rule-groups.json": groups,
        "rule-numbers.json": tokens.numbers,
        "rule-inputs.json": inputs,
        "rule-switches.json": switches,
    }
