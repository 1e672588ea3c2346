"""The APIServices that register the metrics APIs, and the cert-manager serving certificate.

caBundle: with `deployment.ca_bundle_file` the APIServices carry that CA, base64-encoded,
and the serving certificate Secret is yours to create. Without it the manifests include a
cert-manager self-signed Issuer and Certificate for the Service's DNS names, and the
APIServices leave `caBundle` out and carry `cert-manager.io/inject-ca-from`, which
cert-manager's cainjector reads to fill `caBundle` (and refill it on every renewal).
"""

from __future__ import annotations

import base64

from exporter.config import Config, read_ca_bundle
from exporter.generators.k8s.names import Manifest, meta, serving_certificate_name
from exporter.metrics_api.discovery import CUSTOM_GROUP, EXTERNAL_GROUP, VERSIONS

METRICS_GROUPS = VERSIONS  # group -> the version we serve
GROUP_OF = {"external": EXTERNAL_GROUP, "custom": CUSTOM_GROUP}  # metrics_api.register names
CERT_MANAGER_INJECT = "cert-manager.io/inject-ca-from"


def registered_groups(config: Config) -> dict[str, str]:
    """group -> version of the groups `metrics_api.register` claims (none when disabled)."""
    if not config.metrics_api.enabled:
        return {}
    wanted = {GROUP_OF[api] for api in config.metrics_api.register}
    return {g: v for g, v in METRICS_GROUPS.items() if g in wanted}


def collision_warnings(config: Config) -> list[str]:
    """One line per way the chosen autoscaling engine and the registered groups collide."""
    if config.autoscaling.engine == "keda" and EXTERNAL_GROUP in registered_groups(config):
        version = METRICS_GROUPS[EXTERNAL_GROUP]
        return [
            f"warning: autoscaling.engine is keda but metrics_api.register includes external: "
            f"our APIService {version}.{EXTERNAL_GROUP} would replace KEDA's and break every "
            "ScaledObject in the cluster; remove external from metrics_api.register"
        ]
    return []


def api_services(config: Config) -> list[Manifest]:
    out = []
    for group, version in registered_groups(config).items():
        metadata = meta(config, f"{version}.{group}", "metrics-api", None)
        spec: Manifest = {
            "group": group,
            "version": version,
            "service": {"name": config.deployment.name, "namespace": config.namespace, "port": 443},
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        }
        if config.deployment.ca_bundle_file:
            spec["caBundle"] = base64.b64encode(
                read_ca_bundle(config.deployment.ca_bundle_file)
            ).decode()
        else:
            metadata["annotations"] = {
                CERT_MANAGER_INJECT: f"{config.namespace}/{serving_certificate_name(config)}"
            }
        out.append(
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": metadata,
                "spec": spec,
            }
        )
    return out


def certificates(config: Config) -> list[Manifest]:
    """cert-manager objects for the serving cert (only without deployment.ca_bundle_file)."""
    svc = config.deployment.name
    issuer = f"{svc}-selfsigned"
    return [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": meta(config, issuer, "metrics-api"),
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta(config, serving_certificate_name(config), "metrics-api"),
            "spec": {
                "secretName": config.deployment.serving_cert_secret,
                "dnsNames": [
                    f"{svc}.{config.namespace}.svc",
                    f"{svc}.{config.namespace}.svc.cluster.local",
                ],
                "duration": "2160h",
                "renewBefore": "360h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature"],
                "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": issuer},
            },
        },
    ]
