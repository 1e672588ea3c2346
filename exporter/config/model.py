"""`Config`, the one configuration object every output is derived from, and the kinds of
server it lists.

A new kind of server is a `Target` subclass here and a `list[...]` field on `Config`:
`targets()` finds it by that type, so redaction, reference checks and the cluster-secret
checks need no edit.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.alerting import Alerting
from exporter.config.base import NAME_PATTERN, Strict
from exporter.config.classes import ComponentClass
from exporter.config.deployment import Deployment
from exporter.config.metrics_api import MetricsApi
from exporter.config.secrets import redact_url
from exporter.config.settings import (
    Collection,
    KubernetesAccess,
    Listen,
    PrometheusSource,
    yaml_on_off,
)
from exporter.config.targets import Target, checked_url, no_host


class PostgresTarget(Target):
    address_field = "dsn"

    dsn: str
    pool_size: Annotated[int, Field(ge=1, le=10)] = 2

    @field_validator("dsn")
    @classmethod
    def _dsn_shape(cls, v: str) -> str:
        parts = checked_url(
            v,
            ("postgresql", "postgres"),
            "must be a postgresql:// URL, got scheme {scheme!r} in {url!r}",
        )
        if not parts.hostname and "host=" not in parts.query:
            raise no_host(v)
        return v


class RedisTarget(Target):
    address_field = "url"

    url: str

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        parts = checked_url(
            v,
            ("redis", "rediss", "unix"),
            "must be a redis://, rediss:// or unix:// URL, got {url!r}",
        )
        if parts.scheme != "unix" and not parts.hostname:
            raise no_host(v)
        return v


class Config(Strict):
    environment: Literal["dev", "staging", "production"] = "dev"
    namespace: Annotated[str, Field(pattern=NAME_PATTERN)] = "platform"
    listen: Listen = Listen()
    collection: Collection = Collection()
    # Target lists: every `list[<Target subclass>]` field is found by `targets()`.
    postgres: list[PostgresTarget] = []
    redis: list[RedisTarget] = []
    prometheus: PrometheusSource = PrometheusSource()
    gpu: Literal["on", "off", "auto"] = "auto"
    component_classes: list[ComponentClass] = []
    metrics_api: MetricsApi = MetricsApi()
    alerting: Alerting = Alerting()
    kubernetes: KubernetesAccess = KubernetesAccess()
    deployment: Deployment = Deployment()

    _gpu_yaml_boolean = field_validator("gpu", mode="before")(yaml_on_off)

    @classmethod
    @cache
    def target_fields(cls) -> tuple[str, ...]:
        """The names of the fields that list targets (`postgres`, `redis`, ...)."""
        out = []
        for name, field in cls.model_fields.items():
            args = typing.get_args(field.annotation)
            if typing.get_origin(field.annotation) is list and issubclass(args[0], Target):
                out.append(name)
        return tuple(out)

    def targets(self) -> Iterator[Target]:
        """Every target of every kind, in config order."""
        for _path, target in self.located_targets():
            yield target

    def located_targets(self) -> Iterator[tuple[str, Target]]:
        """Every target with its config path (`postgres[0]`), for error messages."""
        for field in self.target_fields():
            for i, target in enumerate(getattr(self, field)):
                yield f"{field}[{i}]", target

    def target_names(self, field: str) -> list[str]:
        """The names of the targets listed under `field`."""
        return [t.name for t in getattr(self, field)]

    @model_validator(mode="after")
    def _references(self) -> Config:
        for field in self.target_fields():
            names = self.target_names(field)
            if len(names) != len(set(names)):
                raise ValueError(f"{field} target names must be unique")
        classes = [c.name for c in self.component_classes]
        if len(classes) != len(set(classes)):
            raise ValueError("component class names must be unique")
        api_metrics = {m.name for m in self.metrics_api.external}
        for ci, cls in enumerate(self.component_classes):
            for qi, q in enumerate(cls.queues):
                known = set(self.target_names(q.target_kind))
                if q.target not in known:
                    raise ValueError(
                        f"component_classes[{ci}].queues[{qi}].target: no {q.target_kind} target "
                        f"named {q.target!r} (have {sorted(known)})"
                    )
            for si, s in enumerate(cls.scale_on):
                if s.metric not in api_metrics:
                    raise ValueError(
                        f"component_classes[{ci}].scale_on[{si}].metric: {s.metric!r} is not "
                        f"served by metrics_api.external (have {sorted(api_metrics)})"
                    )
        return self

    @property
    def exporter_job(self) -> str:
        """The Prometheus `job` of the exporter's own scrape, named once."""
        return self.alerting.exporter_job or self.deployment.name

    def component_class(self, name: str) -> ComponentClass:
        for cls in self.component_classes:
            if cls.name == name:
                return cls
        raise KeyError(name)

    def redacted(self) -> dict[str, Any]:
        """The effective config as plain data with every secret masked (for check-config)."""
        data = self.model_dump(mode="json")
        for field in self.target_fields():
            data[field] = [t.redacted() for t in getattr(self, field)]
        data["prometheus"]["url"] = redact_url(self.prometheus.url)
        return data
