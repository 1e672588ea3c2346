"""KEDA objects for `autoscaling.engine: keda`: one ScaledObject per component class, and the
TriggerAuthentication that gives KEDA the CA of our scaler's serving certificate.

A serialisation of the class's HPA model (`exporter.autoscaling.model.class_autoscaler`):
each of its External and Pods metrics (the class's `scale_on` entries) becomes an `external-push` trigger to the exporter's
external scaler (`listen.grpc`) with `componentClass`, `metric`, `targetValue` and
`activationThreshold` in its metadata (KEDA passes the metadata to the scaler as is) and
`metricType: AverageValue` (the scaler serves the class total; a `pods` metric thus averages
over the class's pods as an HPA `type: Pods` target does). CPU/memory targets become `cpu`
and `memory` triggers. KEDA owns 0 <-> 1 (activation) and hands 1 <-> N to the HPA it
creates, with the class's behaviour under `advanced.horizontalPodAutoscalerConfig`.
"""

from __future__ import annotations

from exporter.autoscaling.model import ClassAutoscaler, class_autoscaler
from exporter.autoscaling.spec import MetricSpec
from exporter.config import ComponentClass, Config
from exporter.generators.k8s.autoscalers import (
    autoscaler_meta,
    quantity,
    scale_target_ref,
    scaling_behavior,
)
from exporter.generators.k8s.names import Manifest, grpc_port, hpa_name, meta

KEDA_API = "keda.sh/v1alpha1"
CA_KEY = "ca.crt"  # cert-manager writes the issuing CA next to tls.crt/tls.key


def trigger_authentication_name(config: Config) -> str:
    return f"{config.deployment.name}-keda-scaler"


def scaler_address(config: Config) -> str:
    keda = config.autoscaling.keda
    if keda.scaler_address:
        return keda.scaler_address
    return f"{config.deployment.name}.{config.namespace}.svc:{grpc_port(config)}"


def trigger_authentication(config: Config, namespace: str = "") -> Manifest:
    """The scaler's CA for KEDA's TLS connection (from the serving-certificate Secret).

    A ScaledObject refers to a TriggerAuthentication in its own namespace, so there is one
    per namespace that holds a class; outside the exporter's own namespace the Secret (its
    `ca.crt`) must be copied there (e.g. by trust-manager or reflector)."""
    return {
        "apiVersion": KEDA_API,
        "kind": "TriggerAuthentication",
        "metadata": meta(config, trigger_authentication_name(config), "autoscaling", namespace),
        "spec": {
            "secretTargetRef": [
                {
                    "parameter": "caCert",
                    "name": config.deployment.serving_cert_secret,
                    "key": CA_KEY,
                }
            ]
        },
    }


def min_replica_count(cls: ComponentClass) -> int:
    return 0 if cls.scale_to_zero else cls.min_replicas


def trigger(config: Config, model: ClassAutoscaler, m: MetricSpec) -> Manifest:
    """One trigger: CPU/memory for a Resource metric, else our external scaler's."""
    if m.kind == "Resource":
        return {
            "type": m.name,
            "metricType": "Utilization",
            "metadata": {"value": str(int(m.target))},
        }
    out: Manifest = {
        "type": "external-push",
        "metricType": "AverageValue",
        "metadata": {
            "scalerAddress": scaler_address(config),
            "componentClass": model.component_class,
            "metric": m.name,
            "targetValue": quantity(m.target),
            "activationThreshold": quantity(model.activation_threshold(m.name)),
        },
    }
    if not config.autoscaling.keda.plaintext:
        out["authenticationRef"] = {"name": trigger_authentication_name(config)}
    return out


def scaled_object(config: Config, cls: ComponentClass) -> Manifest:
    keda = config.autoscaling.keda
    model = class_autoscaler(cls)
    # External/Pods triggers first, then Resource ones (the order of the model's metrics)
    triggers = [trigger(config, model, m) for m in model.metrics]
    fallback_replicas = keda.fallback_replicas or max(cls.min_replicas, 1)
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": autoscaler_meta(config, cls),
        "spec": {
            "scaleTargetRef": scale_target_ref(model),
            "pollingInterval": keda.polling_interval_seconds,
            "cooldownPeriod": keda.cooldown_period_seconds,
            "minReplicaCount": min_replica_count(cls),
            "maxReplicaCount": model.spec.max_replicas,
            "fallback": {
                "failureThreshold": keda.fallback_failure_threshold,
                "replicas": min(fallback_replicas, cls.max_replicas),
            },
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "name": hpa_name(cls),
                    "behavior": scaling_behavior(model),
                }
            },
            "triggers": triggers,
        },
    }
