"""The grpcio-free unary gRPC client the GPU agent asks the kubelet with: RFC 7541's own
examples for HPACK, and real grpcio servers (the fake kubelet, built from the upstream proto)
for the calls: answers over many DATA frames, a status the server sends, the answer cap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporter.kubelet.h2unary import GrpcError, unary_call
from exporter.kubelet.hpack import Decoder, HpackError, huffman_decode
from exporter.kubelet.podresources import LIST_METHOD, ContainerRef, PodResourcesClient
from exporter.kubelet.podresources_wire import WireError, list_response
from tests.support.fake_kubelet import FakeKubelet, container, pod


def test_hpack_decodes_rfc_7541_appendix_c4_with_its_dynamic_table():
    decoder = Decoder()
    blocks = [
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
    ]
    got = [decoder.decode(bytes.fromhex(b)) for b in blocks]
    assert got[0] == [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")]  # fmt: skip
    assert got[1][-1] == ("cache-control", "no-cache")
    assert got[2][1:] == [(":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")]  # fmt: skip
    assert decoder.dynamic == [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")]  # fmt: skip
    assert huffman_decode(bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff")) == b"www.example.com"


@pytest.mark.parametrize(
    "block",
    ["ff", "bf", "418cf1e3c2e5f23a6ba0ab90f4", "4188f1e3c2e5f23a6ba0ab90f4ff00", "3fe21f"],
)
def test_hpack_refuses_bad_blocks(block):
    """A truncated integer, an index past both tables, a truncated string, bad Huffman
    padding, a table size above the one announced."""
    with pytest.raises(HpackError):
        Decoder().decode(bytes.fromhex(block))


def test_protobuf_decoding_skips_unknown_fields_and_refuses_garbage():
    # pod {name "p" namespace "n" cpu_ids 7 containers {name "c" devices {resource_name "r"
    # device_ids "d"}}} with an unknown fixed64 field in the container
    dev = b"\x0a\x01r\x12\x01d"
    ctr = b"\x0a\x01c" + b"\x12" + bytes([len(dev)]) + dev + b"\x49" + b"\x00" * 8
    pod_ = b"\x0a\x01p\x12\x01n\x20\x07" + b"\x1a" + bytes([len(ctr)]) + ctr
    (got,) = list_response(b"\x0a" + bytes([len(pod_)]) + pod_)
    assert (got.name, got.namespace, got.containers[0].name) == ("p", "n", "c")
    assert got.containers[0].devices[0].device_ids == ("d",)
    for garbage in (b"\x0a\x05ab", b"\x0b", b"\x0a\x03\x0a\x01\xff"):
        with pytest.raises(WireError):
            list_response(garbage)


@pytest.fixture
def kubelet(tmp_path):
    k = FakeKubelet(tmp_path).start()
    yield k
    k.stop()


def test_a_large_answer_over_many_frames_decodes_whole(kubelet):
    """3000 pods (~600 KB): past the default 64 KiB window and 16 KiB frames."""
    pods = [pod("ns", f"pod-{i:04d}", container("main", [f"GPU-{i:04d}"])) for i in range(3000)]
    kubelet.set_pods(pods)
    got = PodResourcesClient(kubelet.socket, timeout=10).allocations()
    assert len(got) == 3000 and got["GPU-2999"] == {ContainerRef("ns", "pod-2999", "main"): 1}
    with pytest.raises(GrpcError) as exc:
        unary_call(kubelet.socket, LIST_METHOD, b"", timeout=10, max_bytes=100_000)
    assert exc.value.code == "RESOURCE_EXHAUSTED"


def test_the_status_a_server_sends_is_the_error(kubelet):
    with pytest.raises(GrpcError) as exc:
        unary_call(kubelet.socket, "/v1.PodResourcesLister/NoSuchMethod", b"", timeout=5)
    assert exc.value.code == "UNIMPLEMENTED"


def test_the_agent_path_never_imports_grpc(kubelet):
    kubelet.set_pods([pod("ns", "p", container("main", ["GPU-1"]))])
    code = (
        "import sys\n"
        "from exporter.kubelet.podresources import PodResourcesClient\n"
        f"print(len(PodResourcesClient({kubelet.socket!r}).allocations()), 'grpc' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False"]
