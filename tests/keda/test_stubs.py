"""The project's externalscaler.proto is KEDA's on the wire, and its committed stubs are what
protoc generates from it."""

from __future__ import annotations

from tests.support.keda_client import REFERENCE
from tests.support.protos import descriptor_set, stale_stubs, wire_shape
from tests.support.servers import REPO

OWN_PROTO = REPO / "exporter" / "keda" / "externalscaler.proto"


def test_own_proto_is_wire_identical_to_keda(tmp_path):
    ours = wire_shape(descriptor_set(OWN_PROTO, tmp_path))
    upstream = wire_shape(descriptor_set(REFERENCE, tmp_path))
    assert ours["package"] == "externalscaler"
    assert set(ours["services"]["ExternalScaler"][i][0] for i in range(5)) == {
        "IsActive", "StreamIsActive", "GetMetricSpec", "GetMetrics", "StreamMetricSpec"
    }  # fmt: skip
    assert ours == upstream


def test_committed_stubs_are_what_protoc_generates(tmp_path):
    assert stale_stubs("exporter/keda/externalscaler.proto", tmp_path) == [], "run `make protos`"
