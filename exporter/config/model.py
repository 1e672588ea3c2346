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
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from exporter.config.alerting import Alerting, Environment
from exporter.config.autoscaling import Autoscaling
from exporter.config.base import NAME_PATTERN, Strict
from exporter.config.classes import ComponentClass
from exporter.config.deployment import Deployment
from exporter.config.gpu import GpuAttribution
from exporter.config.health import PostgresCollect, RedisCollect, RedisMode
from exporter.config.metrics_api import MetricsApi
from exporter.config.secrets import redact_url
from exporter.config.settings import (
    DEFAULT_GRPC,
    Collection,
    KubernetesAccess,
    Listen,
    PrometheusSource,
    parse_host_port,
    yaml_on_off,
)
from exporter.config.targets import Target, checked_url, no_host


class PostgresTarget(Target):
    address_field = "dsn"

    dsn: str
    pool_size: Annotated[int, Field(ge=1, le=10)] = 2
    collect: PostgresCollect = PostgresCollect()

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

    # standalone: the server. cluster: the first seed node (scheme, user, db 0). sentinel:
    # scheme, user and db; host:port are replaced by the master the sentinels name.
    url: str
    mode: RedisMode = "standalone"
    seeds: list[str] = []  # cluster: more host:port seed nodes besides url's
    sentinels: list[str] = []  # sentinel: host:port of each sentinel
    master_name: str | None = None  # sentinel: the monitored master's name
    collect: RedisCollect = RedisCollect()

    @field_validator("seeds", "sentinels")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for item in v:
            parse_host_port(item)
        return v

    @model_validator(mode="after")
    def _mode_fields(self) -> RedisTarget:
        if self.mode == "sentinel" and not (self.sentinels and self.master_name):
            raise ValueError("mode sentinel needs sentinels and master_name")
        if self.mode != "sentinel" and (self.sentinels or self.master_name):
            raise ValueError(f"sentinels and master_name apply to mode sentinel, not {self.mode}")
        if self.mode != "cluster" and self.seeds:
            raise ValueError(f"seeds apply to mode cluster, not {self.mode}")
        if self.mode == "cluster" and urlsplit(self.url).path not in ("", "/", "/0"):
            raise ValueError("a Redis Cluster has only db 0")
        return self

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
    environment: Environment = "dev"
    namespace: Annotated[str, Field(pattern=NAME_PATTERN)] = "platform"
    listen: Listen = Listen()
    collection: Collection = Collection()
    # Target lists: every `list[<Target subclass>]` field is found by `targets()`.
    postgres: list[PostgresTarget] = []
    redis: list[RedisTarget] = []
    prometheus: PrometheusSource = PrometheusSource()
    gpu: Literal["on", "off", "auto"] = "auto"
    gpu_attribution: GpuAttribution = GpuAttribution()
    component_classes: list[ComponentClass] = []
    metrics_api: MetricsApi = MetricsApi()
    autoscaling: Autoscaling = Autoscaling()
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
        custom_metrics = {m.name for m in self.metrics_api.custom}
        for ci, cls in enumerate(self.component_classes):
            if cls.min_replicas == 0 and self.autoscaling.engine == "hpa":
                raise ValueError(
                    f"component_classes[{ci}].min_replicas: 0 needs autoscaling.engine keda "
                    "(an HPA cannot scale to zero; use scale_to_zero for KEDA)"
                )
            for qi, q in enumerate(cls.queues):
                known = set(self.target_names(q.target_kind))
                if q.target not in known:
                    raise ValueError(
                        f"component_classes[{ci}].queues[{qi}].target: no {q.target_kind} target "
                        f"named {q.target!r} (have {sorted(known)})"
                    )
            for si, s in enumerate(cls.scale_on):
                if s.type == "pods" and s.metric not in custom_metrics:
                    raise ValueError(
                        f"component_classes[{ci}].scale_on[{si}].metric: {s.metric!r} is not "
                        f"served by metrics_api.custom (have {sorted(custom_metrics)})"
                    )
                if s.type == "external" and s.metric not in api_metrics:
                    raise ValueError(
                        f"component_classes[{ci}].scale_on[{si}].metric: {s.metric!r} is not "
                        f"served by metrics_api.external (have {sorted(api_metrics)})"
                    )
        return self

    @model_validator(mode="after")
    def _keda_scaler_address(self) -> Config:
        # KEDA needs our external scaler: under engine keda an unset listen.grpc means the
        # default address (an explicit null stays off: the scaler runs elsewhere, see
        # autoscaling.keda.scaler_address). Frozen model: set once, here, while validating.
        if self.autoscaling.engine == "keda" and "grpc" not in self.listen.model_fields_set:
            object.__setattr__(
                self, "listen", self.listen.model_copy(update={"grpc": DEFAULT_GRPC})
            )
        return self

    @model_validator(mode="after")
    def _slack_channels(self) -> Config:
        for env in self.routed_environments:
            if env != "dev" and env not in self.alerting.slack.channels:
                raise ValueError(f"alerting.slack.channels: no channel for environment {env!r}")
        return self

    @property
    def routed_environments(self) -> list[str]:
        """The environments the Alertmanager config routes (see alerting.routed_environments)."""
        return list(self.alerting.routed_environments or [self.environment])

    @property
    def exporter_job(self) -> str:
        """The Prometheus `job` of the exporter's own scrape, named once."""
        return self.alerting.exporter_job or self.deployment.name

    def class_namespace(self, cls: ComponentClass) -> str:
        """The namespace a class lives in: its own `namespace`, else the top-level one."""
        return cls.namespace or self.namespace

    @property
    def namespaces(self) -> list[str]:
        """The top-level namespace, then every other one a class names, in config order."""
        out = [self.namespace]
        for cls in self.component_classes:
            if (ns := self.class_namespace(cls)) not in out:
                out.append(ns)
        return out

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
