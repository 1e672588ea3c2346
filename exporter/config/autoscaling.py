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
    # Who may reach the scaler's port (the generated NetworkPolicy): KEDA's operator pods.
    operator_namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "keda"
    operator_pod_labels: dict[str, str] = {"app": "keda-operator"}
    # The gRPC listener's discipline. KEDA's operator holds one or two connections and sends
    # requests of a few hundred bytes, so the caps are small (see README, "KEDA scaler").
    max_connections: Annotated[int, Field(ge=1, le=10000)] = 64
    # A connection with no RPC for this long is closed (KEDA polls every polling interval,
    # 30 s by default, and reconnects transparently).
    idle_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0
    # Every connection is drained and closed after this long (streams end; KEDA reconnects).
    max_connection_age_seconds: Annotated[float, Field(gt=0, le=86400)] = 1800.0
    max_message_bytes: Annotated[int, Field(ge=1024, le=4 * 1024 * 1024)] = 16384
    max_metadata_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 8192
    max_metadata_keys: Annotated[int, Field(ge=2, le=10000)] = 32

    _ca_readable = field_validator("client_ca_file")(ca_file_readable)


class Autoscaling(Strict):
    """Which autoscaler the generated manifests target: HPAs, or KEDA ScaledObjects."""

    engine: Literal["hpa", "keda"] = "hpa"
    keda: KedaScaler = KedaScaler()
