"""A loopback HTTP(S) stand-in in a thread: every GET is answered by a function.

For what cannot run here for real (an instrumented pod's /metrics with a value the test
sets, a query gateway that records what it receives).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (request handler) -> (content type, body); the handler gives path, headers, connection.
Respond = Callable[[BaseHTTPRequestHandler], tuple[str, bytes]]


class StubServer:
    def __init__(self, respond: Respond, context: ssl.SSLContext | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                content_type, body = respond(self)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{'https' if context else 'http'}://{self.address}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
