"""`exporter generate chart`: the generated files of the Helm chart (chart/exporter/) and the
JSON Schema of the config file, all from the config models (one source of truth).

The chart's templates (hand-written, chart/exporter/templates/) render every object
`generate manifests` writes from `values.config`. What they cannot derive in Go templates
comes from files written here:

- `values.schema.json`: the chart's values; `config` is the config's own JSON Schema, so
  `helm lint/template/install` reject a wrong type, an unknown key or an out-of-range value
  with the field named.
- `files/models.json`: per config model, each field's default and which model its value
  (or its list's items) is; the templates fill a partial `values.config` from it the way
  pydantic does, so a default is defined once, in the models.
- `files/default-config.yaml`: the embedded default config (`values.config: {}` means it).
- `files/rule-*.json`: the PrometheusRule's groups with tokens where config values go, how
  to compute each numeric one, the structural inputs they hold for and the switches that
  keep a group (see `chart_rules`).

Also `exporter/config.schema.json`, the config file's schema for editors
(`# yaml-language-server: $schema=...` in exporter/default_config.yaml).

`--config` does not apply: these files depend on the models and the embedded default only.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from exporter.config import Config, ScalingBehavior, settings
from exporter.config.loading import default_config_text
from exporter.config.queues import QUEUE_KINDS, QueueBase
from exporter.generators import chart_rules
from exporter.generators.k8s import names, pod_config, workloads
from exporter.generators.k8s.apiservice import GROUP_OF, METRICS_GROUPS
from exporter.generators.k8s.rbac import HPA_CONTROLLER
from exporter.generators.output import write_files

CONFIG_SCHEMA = Path(__file__).resolve().parents[1] / "config.schema.json"
SCHEMA_ID = "https://raw.githubusercontent.com/example/exporter/main/exporter/config.schema.json"
# Fields whose partial value merges over the field's default, not the model's (the model's
# `mode="before"` validator does this: see ScalingBehavior._over_defaults).
OVER_FIELD_DEFAULT = {(ScalingBehavior, "scale_up"), (ScalingBehavior, "scale_down")}
# Config fields YAML 1.1 may hand over as booleans (`gpu: on`); the models map them back.
ON_OFF_FIELDS = {("Config", "gpu"), ("KubernetesAccess", "enabled")}


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('model', M) for M or M | None, ('items', M) for list[M]; None otherwise."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _model_of(args[0])
    if origin is list and args:
        inner = _model_of(args[0])
        return ("items", inner[1]) if inner and inner[0] == "model" else None
    if args and type(None) in args:  # Optional[M]
        rest = [a for a in args if a is not type(None)]
        return _model_of(rest[0]) if len(rest) == 1 else None
    return None


def model_spec() -> dict[str, dict[str, dict[str, Any]]]:
    """Model name -> field -> {default?, model?|items?, over_default?}, from Config down."""
    out: dict[str, dict[str, dict[str, Any]]] = {}

    def visit(model: type[BaseModel]) -> None:
        if model.__name__ in out:
            return
        fields: dict[str, dict[str, Any]] = {}
        out[model.__name__] = fields
        for name, info in model.model_fields.items():
            entry: dict[str, Any] = {}
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
                entry["default"] = TypeAdapter(info.annotation).dump_python(default, mode="json")
            nested = _model_of(info.annotation)
            if nested:
                entry[nested[0]] = nested[1].__name__
                visit(nested[1])
            if (model, name) in OVER_FIELD_DEFAULT:
                entry["over_default"] = True
            fields[name] = entry

    visit(Config)
    return out


def _allow_on_off_booleans(defs: dict[str, Any], root: dict[str, Any]) -> None:
    for model, field in ON_OFF_FIELDS:
        props = (root if model == "Config" else defs[model])["properties"][field]
        props["anyOf"] = [{"enum": props.pop("enum"), "type": props.pop("type")},
                          {"type": "boolean"}]  # fmt: skip


def config_schema() -> dict[str, Any]:
    """The config file's JSON Schema (draft 2020-12), from the pydantic models."""
    schema = Config.model_json_schema()
    _allow_on_off_booleans(schema["$defs"], schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "exporter config",
        "description": "The exporter's config file (exporter --config FILE); also the Helm "
        "chart's values.config.",
        **schema,
    }


def _values_schema_properties() -> dict[str, Any]:
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    flag = {"type": "boolean"}
    open_object = {"type": "object"}
    resources = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"requests": open_object, "limits": open_object},
    }
    switch = {"type": "object", "additionalProperties": False, "properties": {"enabled": flag}}
    return {
        "config": {
            "description": "The exporter config (the config file's content); {}: the "
            "embedded default config.",
            "$ref": "#/$defs/Config",
        },
        "image": {"type": "string", "description": "empty: config.deployment.image"},
        "imagePullPolicy": {"enum": ["", "Always", "IfNotPresent", "Never"]},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 50},
        "resources": resources,
        "nodeSelector": string_map,
        "tolerations": {"type": "array", "items": open_object},
        "affinity": open_object,
        "podAnnotations": string_map,
        "podLabels": string_map,
        "servingCertificate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "source": {"enum": ["cert-manager", "secret"]},
                "secretName": {"type": "string"},
                "caBundle": {"type": "string"},
            },
        },
        "metricsApi": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "register": {
                    "anyOf": [
                        {"type": "null"},
                        {"type": "array", "items": {"enum": ["external", "custom"]}},
                    ]
                }
            },
        },
        "gpuAgent": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": flag,
                "nodeSelector": string_map,
                "tolerations": {"type": "array", "items": open_object},
                "resources": resources,
            },
        },
        "serviceMonitor": switch,
        "podMonitors": switch,
        "prometheusRule": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": flag, "groups": {"type": "array", "items": open_object}},
        },
        "prometheusOperator": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"labels": string_map},
        },
        "global": open_object,  # Helm's, for a parent chart
    }


def values_schema() -> dict[str, Any]:
    """The chart's values.schema.json: the deployment's values, and `config` the config's."""
    config = Config.model_json_schema()
    defs = config.pop("$defs")
    _allow_on_off_booleans(defs, config)
    defs["Config"] = config
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "exporter chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": _values_schema_properties(),
        "$defs": defs,
    }


def constants() -> dict[str, Any]:
    """The generator's fixed names, paths and ids the templates use (defined once, there)."""
    return {
        "config_dir": names.CONFIG_DIR,
        "config_key": names.CONFIG_KEY,
        "tls_dir": names.TLS_DIR,
        "agent_proc_root": pod_config.AGENT_PROC_ROOT,
        "run_as": workloads.RUN_AS,
        "metrics_groups": [{"group": g, "version": v} for g, v in METRICS_GROUPS.items()],
        "group_of": GROUP_OF,
        "hpa_controller": {"namespace": HPA_CONTROLLER[0], "name": HPA_CONTROLLER[1]},
        # which target list a queue's `target` names, per queue kind, and its default
        "queue_targets": {kind: m.target_kind for kind, m in QUEUE_KINDS.items()},
        "queue_default_target": QueueBase.model_fields["target"].default,
        # listen.grpc left out under engine keda: its address (Config._keda_scaler_address)
        "default_grpc": settings.DEFAULT_GRPC,
        # collection.interval/timeout_seconds alone: the schedule queues and health share
        "legacy_schedule": {
            "interval_seconds": settings.LEGACY_INTERVAL_SECONDS,
            "timeout_seconds": settings.LEGACY_TIMEOUT_SECONDS,
        },
    }


def render() -> dict[str, str]:
    """Chart-relative path -> text of every generated chart file."""
    return {
        "files/constants.json": _json(constants()),
        "values.schema.json": _json(values_schema()),
        "files/models.json": _json(model_spec()),
        "files/default-config.yaml": default_config_text(),
        **{f"files/{name}": _json(data) for name, data in chart_rules.rule_template().items()},
    }


def render_config_schema() -> str:
    return _json(config_schema())


def generate(config: Config, out_dir: str | Path) -> list[str]:
    """Write the chart's generated files into out_dir and the config schema beside the
    embedded default; `config` is unused (see the module docstring)."""
    del config
    written = write_files(out_dir, render())
    written += write_files(CONFIG_SCHEMA.parent, {CONFIG_SCHEMA.name: render_config_schema()})
    return written
