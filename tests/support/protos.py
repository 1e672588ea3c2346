"""Checks for the project's own copies of upstream .proto files and their committed stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from tests.support.servers import REPO


def descriptor_set(proto: Path, tmp: Path) -> descriptor_pb2.FileDescriptorProto:
    """`proto` compiled by grpcio-tools' protoc, as a FileDescriptorProto."""
    out = tmp / f"{proto.stem}.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto.parent}",
         f"--descriptor_set_out={out}", str(proto)],
        check=True,
    )  # fmt: skip
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return files.file[0]


def wire_shape(fd: descriptor_pb2.FileDescriptorProto) -> dict:
    """What the wire depends on: package, messages' fields (number, type, label), services."""
    messages = {
        m.name: sorted(
            (f.number, f.name, f.type, f.label, f.type_name, f.proto3_optional) for f in m.field
        )
        for m in fd.message_type
    }
    services = {
        s.name: sorted(
            (m.name, m.input_type, m.output_type, m.client_streaming, m.server_streaming)
            for m in s.method
        )
        for s in fd.service
    }
    return {"package": fd.package, "messages": messages, "services": services}


def stale_stubs(relative_proto: str, tmp: Path) -> list[str]:
    """The committed `<stem>_pb2.py` / `<stem>_pb2_grpc.py` next to REPO/`relative_proto` that
    differ from what protoc generates now (`make protos` regenerates them)."""
    proto = REPO / relative_proto
    (tmp / relative_proto).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(proto, tmp / relative_proto)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp}", f"--python_out={tmp}",
         f"--grpc_python_out={tmp}", relative_proto],
        check=True, cwd=tmp,
    )  # fmt: skip
    stale = []
    for name in (f"{proto.stem}_pb2.py", f"{proto.stem}_pb2_grpc.py"):
        fresh = ((tmp / relative_proto).parent / name).read_text()
        if (proto.parent / name).read_text() != fresh:
            stale.append(name)
    return stale
