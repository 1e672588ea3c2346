"""A local Alertmanager webhook receiver, so a firing alert is visible in the demo.

Alertmanager POSTs its webhook JSON (version 4) here; each alert is printed once per state
change and listed on `GET /` (a plain page that refreshes itself). Runs in a thread of the
demo process: it stops with it.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertSink:
    def __init__(self, port: int, echo=lambda line: print(line, flush=True)) -> None:
        self.received: deque[dict[str, Any]] = deque(maxlen=100)
        self.echo = echo
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                for alert in body.get("alerts", []):
                    sink.add(alert)
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                page = sink.page().encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def add(self, alert: dict[str, Any]) -> None:
        labels = alert.get("labels", {})
        status = alert.get("status", "?")
        self.received.appendleft({"status": status, "labels": labels,
                                  "summary": alert.get("annotations", {}).get("summary", ""),
                                  "startsAt": alert.get("startsAt", "")})  # fmt: skip
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        self.echo(f"ALERT {status}: {labels.get('alertname', '?')} ({shown})")

    def page(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(a['status'])}</td><td>{escape(a['labels'].get('alertname', ''))}</td>"
            f"<td>{escape(json.dumps(a['labels']))}</td><td>{escape(a['summary'])}</td>"
            f"<td>{escape(a['startsAt'])}</td></tr>"
            for a in self.received
        )
        return (
            '<!doctype html><meta charset=utf-8><meta http-equiv="refresh" content="5">'
            "<title>demo alert sink</title><h1>Alerts Alertmanager sent here</h1>"
            "<table border=1 cellpadding=4><tr><th>status</th><th>alert</th><th>labels</th>"
            f"<th>summary</th><th>since</th></tr>{rows}</table>"
        )

    def start(self) -> AlertSink:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
