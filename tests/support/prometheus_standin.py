"""A Prometheus stand-in on a loopback port that answers whatever body a test puts in a file.

`/api/v1/query` answers the bytes of `<dir>/body` with the status code in `<dir>/status`
(default 200), read per request, so one running stand-in serves every malformed shape a
test wants. Every request's path is appended to `<dir>/queries` (`StandIn.queries()`), so a
test can count what Prometheus was asked; `stop()` and `start()` take it down and bring it
back on the same port. It runs as its own process (`python -m tests.support.prometheus_standin DIR
PORT`), as Prometheus would, so sending an 18 MB body costs the test process nothing.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.servers import free_port, stop_process, wait_for


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    folder: Path

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = (self.folder / "body").read_bytes()
        status_file = self.folder / "status"
        status = int(status_file.read_text()) if status_file.exists() else 200
        (self.folder / "queries").open("a").write(self.path + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (its size cap): expected

    def log_message(self, *args: object) -> None:
        return


class StandIn:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def answer(self, body: bytes, status: int = 200) -> None:
        (self.folder / "body").write_bytes(body)
        (self.folder / "status").write_text(str(status))

    def queries(self) -> list[str]:
        """The `query` parameter of every request received so far, in arrival order."""
        path = self.folder / "queries"
        lines = path.read_text().splitlines() if path.exists() else []
        return [parse_qs(urlsplit(line).query).get("query", [""])[0] for line in lines]

    def start(self) -> None:
        """Run (again, on the same port after `stop`) until `stop`."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.prometheus_standin", str(self.folder),
             str(self.port)]
        )  # fmt: skip
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
            what="prometheus stand-in",
        )

    def stop(self) -> None:
        """Stop the process: the port refuses connections, as a stopped Prometheus's does."""
        if self.proc is not None:
            stop_process(self.proc, grace=2)
            self.proc = None


@contextlib.contextmanager
def prometheus_standin(folder: Path) -> Iterator[StandIn]:
    port = free_port()
    standin = StandIn(folder, port)
    standin.answer(b'{"status":"success","data":{"resultType":"vector","result":[]}}')
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


if __name__ == "__main__":
    _Handler.folder = Path(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), _Handler).serve_forever()
