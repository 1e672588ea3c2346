"""The message classes and servicer base of `externalscaler.proto`, compiled at first use.

grpcio-tools compiles the .proto in process (`grpc.protos_and_services`), so the generated
code is never in the tree and never hand-edited; the cost (~50 ms) is paid once, only by a
process that serves the scaler.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import ModuleType

PROTO = "exporter/keda/externalscaler.proto"
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the `exporter` package


@functools.cache
def load() -> tuple[ModuleType, ModuleType]:
    """(messages module, services module). Raises ImportError without grpcio-tools."""
    import grpc

    # protoc resolves the path against sys.path; an editable install may not list the root.
    added = _ROOT not in sys.path
    if added:
        sys.path.append(_ROOT)
    try:
        return grpc.protos_and_services(PROTO)
    finally:
        if added:
            sys.path.remove(_ROOT)
