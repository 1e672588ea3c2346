"""Discovery documents for the two aggregated API groups (APIGroupList, APIGroup,
APIResourceList), built once from the config: they never change while the process runs.

External metrics are listed one resource per metric name (as custom-metrics-apiserver based
adapters such as prometheus-adapter do); custom metrics as `<resource>/<metric>` per object
kind the metric is served for. Neither list is ever empty: an empty APIResourceList makes
kube-apiserver's discovery and namespace deletion report the group as failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EXTERNAL_GROUP = "external.metrics.k8s.io"
EXTERNAL_VERSION = "v1beta1"
CUSTOM_GROUP = "custom.metrics.k8s.io"
CUSTOM_VERSION = "v1beta2"
VERSIONS = {EXTERNAL_GROUP: EXTERNAL_VERSION, CUSTOM_GROUP: CUSTOM_VERSION}

# Object kinds a custom metric can describe besides pods and namespaces: the component
# classes' workloads. Resource names as the custom-metrics client sends them (group-qualified).
WORKLOAD_RESOURCES = {
    "deployments.apps": ("Deployment", "apps/v1"),
    "deployments": ("Deployment", "apps/v1"),
    "statefulsets.apps": ("StatefulSet", "apps/v1"),
    "statefulsets": ("StatefulSet", "apps/v1"),
}


@dataclass(frozen=True)
class MetricInfo:
    """A served metric as discovery lists it: its API (`external`/`custom`), its name, and for
    custom metrics the resources it describes (`pods`, `namespaces`, `deployments.apps`...)."""

    api: Literal["external", "custom"]
    name: str
    resources: tuple[str, ...] = ()


def _version(group: str) -> dict:
    return {"groupVersion": f"{group}/{VERSIONS[group]}", "version": VERSIONS[group]}


def api_group(group: str) -> dict:
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_version(group)],
        "preferredVersion": _version(group),
    }


def api_group_list() -> dict:
    groups = []
    for group in (CUSTOM_GROUP, EXTERNAL_GROUP):
        g = api_group(group)
        del g["kind"], g["apiVersion"]
        groups.append(g)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource(name: str, namespaced: bool, kind: str) -> dict:
    return {
        "name": name,
        "singularName": "",
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get"],
    }


def external_resources(metrics: list[MetricInfo]) -> list[dict]:
    out = [_resource(m.name, True, "ExternalMetricValueList") for m in metrics]
    return out or [_resource("externalmetrics", True, "ExternalMetricValueList")]


def custom_resources(metrics: list[MetricInfo]) -> list[dict]:
    out = [
        _resource(f"{resource}/{m.name}", resource != "namespaces", "MetricValueList")
        for m in metrics
        for resource in m.resources
    ]
    return out or [_resource("namespaces/metrics", False, "MetricValueList")]


def api_resource_list(group: str, metrics: list[MetricInfo]) -> dict:
    """The group's APIResourceList for the metrics a provider lists (`list_metrics()`)."""
    resources = (
        external_resources([m for m in metrics if m.api == "external"])
        if group == EXTERNAL_GROUP
        else custom_resources([m for m in metrics if m.api == "custom"])
    )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{VERSIONS[group]}",
        "resources": resources,
    }
