"""A stand-in kubelet pod-resources server, built from the upstream proto itself.

`FakeKubelet` runs this file as a separate process (so the upstream proto's `v1.*` symbols
never meet the exporter's own copy in one protobuf descriptor pool): it compiles
`../shared/reference/kubelet/podresources-v1-api.proto` with grpcio-tools into a temp dir
and serves `v1.PodResourcesLister` on a unix socket. Every `List` answers the pods in a JSON
file (the proto's JSON mapping), re-read per call so a test changes the node's pods by
rewriting it. `garbage_socket` is a unix socket that answers anything with bytes that are
not HTTP/2 (a wrong file at the socket path).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

REFERENCE_PROTO = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "kubelet"
).resolve() / "podresources-v1-api.proto"
if not REFERENCE_PROTO.exists():  # worktrees sit next to shared/, the main checkout too
    REFERENCE_PROTO = Path("/work/shared/reference/kubelet/podresources-v1-api.proto")


def compile_reference(out: Path) -> None:
    """Compile the upstream proto (under its upstream file name, api.proto) into `out`."""
    src = out / "proto"
    src.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REFERENCE_PROTO, src / "api.proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"--python_out={out}",
         f"--grpc_python_out={out}", str(src / "api.proto")],
        check=True,
    )  # fmt: skip


def container(name: str, gpus: list[str] = (), resource: str = "nvidia.com/gpu") -> dict:
    """A ContainerResources as the kubelet fills it: devices with NUMA topology, cpu_ids."""
    out: dict = {"name": name, "cpuIds": ["2", "3"], "memory": []}
    if gpus:
        out["devices"] = [
            {"resourceName": resource, "deviceIds": list(gpus), "topology": {"nodes": [{"ID": 0}]}}
        ]
    return out


def pod(namespace: str, name: str, *containers: dict) -> dict:
    return {"name": name, "namespace": namespace, "containers": list(containers)}


def serve(socket_path: str, state: str) -> None:
    import grpc
    from google.protobuf import json_format

    workdir = Path(tempfile.mkdtemp(prefix="fake-kubelet-proto-"))
    compile_reference(workdir)
    sys.path.insert(0, str(workdir))
    api_pb2 = importlib.import_module("api_pb2")
    api_pb2_grpc = importlib.import_module("api_pb2_grpc")

    class Lister(api_pb2_grpc.PodResourcesListerServicer):
        def List(self, request, context):  # noqa: N802 - the proto's name
            pods = json.loads(Path(state).read_text())
            return json_format.ParseDict({"podResources": pods}, api_pb2.ListPodResourcesResponse())

    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(4))
    api_pb2_grpc.add_PodResourcesListerServicer_to_server(Lister(), server)
    server.add_insecure_port(f"unix://{socket_path}")
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


class FakeKubelet:
    """The server process plus the JSON file it answers from."""

    def __init__(self, directory: Path) -> None:
        self.socket = str(directory / "kubelet.sock")
        self.state = directory / "pods.json"
        self.set_pods([])
        self.proc: subprocess.Popen | None = None

    def set_pods(self, pods: list[dict]) -> None:
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(pods))
        os.replace(tmp, self.state)  # atomic: a List never reads half a file

    def start(self) -> FakeKubelet:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.socket, str(self.state)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline()
        if line.strip() != "serving":
            raise RuntimeError(f"fake kubelet did not start (exit {self.proc.poll()})")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)


@contextlib.contextmanager
def garbage_socket(path: str) -> Iterator[str]:
    """A unix socket that answers every connection with bytes no gRPC client can parse."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not the kubelet\n")

    thread = threading.Thread(target=run, daemon=True, name="garbage-socket")
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(2)
        listener.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
