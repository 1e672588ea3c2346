"""A gRPC client for KEDA's external scaler, compiled from the UPSTREAM proto in the test.

`tests/reference/externalscaler.proto` (KEDA's file, vendored verbatim) is compiled by
grpcio-tools' protoc into a descriptor set, loaded into a private descriptor pool (so it
never meets the exporter's own copy in the default pool), and each RPC of the service
descriptor becomes a method: unary ones return the response, server-streaming ones return
the call (an iterator of responses with `.cancel()`).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

REFERENCE = Path(__file__).parent.parent / "reference" / "externalscaler.proto"
SERVICE = "externalscaler.ExternalScaler"


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{REFERENCE.parent}",
             f"--descriptor_set_out={out}", "--include_imports", REFERENCE.name],
            check=True, capture_output=True,
        )  # fmt: skip
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return pool


def message(type_name: str, **fields: Any) -> Any:
    """A message of the upstream proto, e.g. message("ScaledObjectRef", name="x")."""
    cls = message_factory.GetMessageClass(
        _pool().FindMessageTypeByName(f"externalscaler.{type_name}")
    )
    return cls(**fields)


def ref(namespace: str = "platform", **metadata: str) -> Any:
    return message("ScaledObjectRef", name="so", namespace=namespace, scalerMetadata=metadata)


class ScalerClient:
    """Callables named after the upstream service's methods, on one channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        service = _pool().FindServiceByName(SERVICE)
        self.methods = [m.name for m in service.methods]
        for method in service.methods:
            out_cls = message_factory.GetMessageClass(method.output_type)
            kind = channel.unary_stream if method.server_streaming else channel.unary_unary
            setattr(
                self,
                method.name,
                kind(
                    f"/{SERVICE}/{method.name}",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=out_cls.FromString,
                ),
            )

    def close(self) -> None:
        self.channel.close()


def connect(
    address: str, ca_pem: bytes | None = None, own_connection: bool = False, **creds: bytes
) -> ScalerClient:
    """Plaintext without `ca_pem`; TLS verifying the server against `ca_pem` otherwise
    (`private_key`/`certificate_chain` for a client certificate). `own_connection`: a TCP
    connection of its own (gRPC otherwise shares one between channels to the same address)."""
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    if ca_pem is None:
        return ScalerClient(grpc.insecure_channel(address, options=options))
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem, **creds)
    return ScalerClient(grpc.secure_channel(address, credentials, options=options))
