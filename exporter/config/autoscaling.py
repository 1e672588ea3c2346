"""The `autoscaling:` section: HPAs or KEDA ScaledObjects, and KEDA's external scaler."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from exporter.config.base import Strict
from exporter.config.deployment import ca_file_readable


class KedaScaler(Strict):
    """KEDA (`autoscaling.engine: keda`): the ScaledObjects and our external scaler (gRPC on
    listen.grpc, with the metrics API's serving certificate)."""

    polling_interval_seconds: Annotated[int, Field(ge=1)] = 30
    cooldown_period_seconds: Annotated[int, Field(ge=0)] = 300
    # KEDA's fallback: after this many failed scaler calls, hold `fallback_replicas`
    # (None: the class's min_replicas, at least 1).
    fallback_failure_threshold: Annotated[int, Field(ge=1)] = 3
    fallback_replicas: Annotated[int, Field(ge=1)] | None = None
    # PEM CA that signs the client certificates KEDA presents; None: no client-cert check.
    client_ca_file: str | None = None
    # Serve the scaler without TLS: refused in production, loud warning elsewhere.
    plaintext: bool = False
    # scalerAddress in generated ScaledObjects; None: <deployment.name>.<namespace>.svc:<port>.
    scaler_address: str | None = None

    _ca_readable = field_validator("client_ca_file")(ca_file_readable)


class Autoscaling(Strict):
    """Which autoscaler the generated manifests target: HPAs, or KEDA ScaledObjects."""

    engine: Literal["hpa", "keda"] = "hpa"
    keda: KedaScaler = KedaScaler()
