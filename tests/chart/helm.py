"""Real Helm and kubectl (installed by `make tools`), and the test configs both render."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import Config

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart" / "exporter"
TOOLS = REPO / ".tools" / "bin"
# Labels only the chart sets (Helm's conventions); the generator writes managed-by
# exporter-generate where the chart writes Helm. Everything else must be equal.
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by")
CHECKSUM = "checksum/config"


def tool(name: str) -> str:
    """Path of helm/kubectl from `make tools` (or $HELM / $KUBECTL); fails, never skips."""
    path = os.environ.get(name.upper()) or str(TOOLS / name)
    if not Path(path).is_file():
        pytest.fail(f"{name} not found at {path}: run `make tools` (make test does)")
    return path


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/helm-cache", "HELM_CONFIG_HOME": "/tmp/helm-cfg"}
    return subprocess.run(
        [tool("helm"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def values_file(tmp: Path, config: dict[str, Any] | None, **values: Any) -> Path:
    path = tmp / "values.yaml"
    data = {**({"config": config} if config is not None else {}), **values}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def template(namespace: str, *args: str) -> list[dict[str, Any]]:
    """`helm template exporter chart/exporter` into `namespace`: the rendered objects."""
    out = helm("template", "exporter", str(CHART), "--namespace", namespace, *args)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def _strip_labels(labels: dict[str, str], helm_side: bool) -> dict[str, str]:
    managed = labels.get("app.kubernetes.io/managed-by")
    assert managed == ("Helm" if helm_side else "exporter-generate"), labels
    return {k: v for k, v in labels.items() if k not in HELM_LABELS}


def _config_text(obj: dict[str, Any]) -> str:
    return next(iter(obj["data"].values()))


def normalized(obj: dict[str, Any], helm_side: bool, configs: dict[str, str]) -> dict[str, Any]:
    """`obj` with the labels only one side sets removed, a ConfigMap's config parsed by the
    exporter's own model (the two sides write the same config in different YAML), and a pod
    template's config checksum checked against its ConfigMap and removed."""
    obj = yaml.safe_load(yaml.safe_dump(obj))  # a deep copy
    meta = obj["metadata"]
    if "labels" in meta:
        meta["labels"] = _strip_labels(meta["labels"], helm_side)
    if obj["kind"] == "ConfigMap":
        text = _config_text(obj)
        obj["data"] = Config.model_validate(yaml.safe_load(text)).model_dump(mode="json")
    pod = obj.get("spec", {}).get("template", {}).get("metadata")
    if pod is not None:
        pod["labels"] = _strip_labels(pod["labels"], helm_side)
        volumes = obj["spec"]["template"]["spec"]["volumes"]
        cm = next(v["configMap"]["name"] for v in volumes if v["name"] == "config")
        assert (
            pod["annotations"].pop(CHECKSUM) == hashlib.sha256(configs[cm].encode()).hexdigest()
        ), f"{key(obj)}: checksum is not that of ConfigMap {cm}"
        if not pod["annotations"]:
            del pod["annotations"]
    return obj


def config_maps(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {o["metadata"]["name"]: _config_text(o) for o in objs if o["kind"] == "ConfigMap"}
