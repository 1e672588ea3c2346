"""Classes in two namespaces served by one exporter: each namespace's HPA gets its own class's
value over the real HTTPS API, a request naming the wrong namespace is a 404 Status, and
`generate manifests` puts each class's objects in the class's namespace (validated with
kubernetes-validate and the CRD schemas, as the committed manifests are)."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from exporter import catalog
from exporter.config import Config
from exporter.generators import alerts, dashboards, k8s
from exporter.metrics_api.quantity import parse_quantity
from exporter.snapshot import Sample
from tests.generators.test_dashboard_schema import nulls, round_trip, unknown_keys
from tests.generators.test_manifests import validate
from tests.support.metrics_api_harness import BASE_CONFIG, client, make_pki, running_api, use_pki
from tests.support.servers import free_port

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/queue_depth"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/deployments.apps/{name}/queue_depth"

# Same workload name in both namespaces (dev and production side by side); the class names
# differ, as class names are unique in one config.
CLASSES = [
    ("web-dev", "dev", "component-web", 7),
    ("web-prod", "prod", "component-web", 40),
]


def two_namespace_config(port: int, pki=None) -> Config:
    data = copy.deepcopy(BASE_CONFIG)
    data["namespace"] = "platform"  # the exporter's own; no class lives there
    data["listen"] = {"http": "127.0.0.1:0", "https": f"127.0.0.1:{port}"}
    data["redis"] = [{"name": "main", "url": "redis://127.0.0.1:6379/0"}]
    data["component_classes"] = [
        {
            "name": name,
            "namespace": ns,
            "workload": {"kind": "Deployment", "name": workload},
            "queues": [
                {
                    "name": f"jobs:{name}",
                    "kind": "redis_list",
                    "target": "main",
                    "key": f"jobs:{name}",
                }
            ],  # fmt: skip
            "scale_on": [{"metric": "queue_depth", "target_average_value": 5}],
        }
        for name, ns, workload, _ in CLASSES
    ]
    if pki is not None:
        use_pki(data, pki, ["front-proxy-client"])
    return Config.model_validate(data)


def _queues() -> list[Sample]:
    out = []
    for name, _, _, depth in CLASSES:
        labels = {"component_class": name, "queue": f"jobs:{name}"}
        out += [Sample(catalog.QUEUE_DEPTH, labels, depth), Sample(catalog.QUEUE_UP, labels, 1)]
    return out


async def test_each_namespace_gets_its_class_and_the_wrong_one_404(tmp_path):
    pki = make_pki(tmp_path)
    config = two_namespace_config(free_port(), pki)
    async with running_api(config) as api, client(pki, pki.proxy) as c:
        api.snapshot.replace("queues", _queues())
        for name, ns, workload, depth in CLASSES:
            # the class's HPA, in the class's namespace, as the controller asks
            resp = await c.get(
                api.url + EXTERNAL.format(ns=ns),
                params={"labelSelector": f"component_class={name}"},
            )
            assert resp.status_code == 200, resp.text
            [item] = resp.json()["items"]
            assert parse_quantity(item["value"]) == depth
            assert item["metricLabels"]["component_class"] == name
            # a custom metric of the workload: same Deployment name, its own namespace's class
            resp = await c.get(api.url + CUSTOM.format(ns=ns, name=workload))
            assert resp.status_code == 200, resp.text
            assert parse_quantity(resp.json()["items"][0]["value"]) == depth
            # no selector: only the namespace's own classes
            resp = await c.get(api.url + EXTERNAL.format(ns=ns))
            assert [i["metricLabels"]["component_class"] for i in resp.json()["items"]] == [name]

        for name, ns, _, _ in CLASSES:
            for wrong in {"dev", "prod", "platform", "elsewhere"} - {ns}:
                resp = await c.get(
                    api.url + EXTERNAL.format(ns=wrong),
                    params={"labelSelector": f"component_class={name}"},
                )
                assert resp.status_code == 404, (name, wrong, resp.text)
                status = resp.json()
                assert (status["kind"], status["code"], status["reason"]) == (
                    "Status",
                    404,
                    "NotFound",
                )
        # a Deployment of that name exists only in dev and prod
        resp = await c.get(api.url + CUSTOM.format(ns="platform", name="component-web"))
        assert resp.status_code == 404


def test_manifests_place_each_class_in_its_namespace():
    config = two_namespace_config(6443)
    docs = {name: list(yaml.safe_load_all(text)) for name, text in k8s.render(config).items()}
    for name, ns, workload, _ in CLASSES:
        [hpa] = docs[f"hpa-{name}.yaml"]
        assert hpa["metadata"]["namespace"] == ns
        assert hpa["spec"]["scaleTargetRef"]["name"] == workload
        selector = hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]
        assert selector == {"matchLabels": {"component_class": name}}
    monitors = {
        m["spec"]["namespaceSelector"]["matchNames"][0]: m for m in docs["podmonitors.yaml"]
    }
    assert sorted(monitors) == ["dev", "prod"]
    for ns, monitor in monitors.items():
        assert monitor["metadata"]["namespace"] == ns
    jobs = yaml.safe_load(k8s.render(config)["scrape-configs.yml"])["scrape_configs"]
    assert [j["kubernetes_sd_configs"][0]["namespaces"]["names"] for j in jobs] == [
        ["dev"],
        ["prod"],
    ]
    # the exporter itself stays in its own namespace
    [deployment] = docs["deployment.yaml"]
    assert deployment["metadata"]["namespace"] == "platform"
    for name, objs in docs.items():
        if name.endswith(".yaml") and name != "kustomization.yaml":
            for obj in objs:
                validate(obj)
    # the pod alerts watch both namespaces
    text = yaml.safe_dump(alerts.rule_groups(config))
    assert 'namespace=~"platform|dev|prod"' in text


def test_dashboards_carry_the_namespace():
    """A namespace variable (the pods' scrape label) the class list follows; each dashboard
    still loads in Grafana's SDK with no unknown key."""
    config = two_namespace_config(6443)
    for name, text in dashboards.render(config).items():
        model = json.loads(text)
        variables = {v["name"]: v for v in model["templating"]["list"]}
        if "component_class" in variables:
            ns = variables["namespace"]
            assert [o["value"] for o in ns["options"]] == ["dev", "prod"], name
            assert '{namespace=~"$namespace"}' in variables["component_class"]["query"]
        assert nulls(model) == []
        assert unknown_keys(model, round_trip(model)) == []


@pytest.mark.parametrize("engine", ["keda"])
def test_keda_objects_follow_the_class_namespace(engine):
    config = two_namespace_config(6443)
    data = config.model_dump(mode="json", exclude_defaults=True)
    data["autoscaling"] = {"engine": engine}
    data["listen"]["grpc"] = "0.0.0.0:9465"
    config = Config.model_validate(data)
    docs = {name: list(yaml.safe_load_all(text)) for name, text in k8s.render(config).items()}
    auth_ns = {o["metadata"]["namespace"] for o in docs["keda-triggerauthentication.yaml"]}
    for name, ns, _, _ in CLASSES:
        [so] = docs[f"scaledobject-{name}.yaml"]
        assert so["metadata"]["namespace"] == ns
        assert ns in auth_ns  # its authenticationRef resolves in its own namespace
        validate(so)
