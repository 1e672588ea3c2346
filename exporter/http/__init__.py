"""The exporter's own HTTP/1.1 server for ASGI apps (both listeners run on it).

Why not uvicorn: the listeners face the kube-aggregator, Prometheus and any pod that can reach
them, so every connection must be bounded in time and memory before authentication:
`TCP_NODELAY` on accept, head/handshake/idle timeouts, a head-size limit, bodies only where
a route takes one and a per-listener budget for what requests hold, a per-listener connection
cap and a per-client share of it, TLS through `ssl.MemoryBIO` (no 256 KiB read buffer per connection as in
asyncio's `SSLProtocol`), accept errors that back off, and malformed requests that are counted
rather than logged one line each.

Modules, one job each:
- `limits`      the per-listener limits and counters (`exporter_http_connections*`)
- `tlsio`       TLS over memory BIOs (certificates and their reload: `exporter.tls`)
- `wire`        status lines, checked header lines, error responses in a listener's words
- `rules`       what a request head may ask for (size, Host, a body, Expect), before its body
- `connection`  one accepted connection: TLS, HTTP/1.1 parsing, the buffer budget, lingering
- `exchange`    one request's ASGI cycle: the body, the disconnect, buffered or streamed answers
- `server`      the accept loop, the connection caps (listener, client), the sweep, shutdown
- `selfmetrics` `process_*`, event-loop lag and the listeners' counters into the snapshot
- `webconfig`   the Prometheus exporter-toolkit web-config file (TLS, basic auth)
"""
