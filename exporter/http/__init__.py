"""The exporter's own HTTP/1.1 server for ASGI apps (both listeners run on it).

Why not uvicorn: the listeners face the kube-aggregator, Prometheus and any pod that can reach
them, so every connection must be bounded in time and memory before authentication:
`TCP_NODELAY` on accept, head/handshake/idle timeouts, a head-size limit, a per-listener
connection cap, TLS through `ssl.MemoryBIO` (no 256 KiB read buffer per connection as in
asyncio's `SSLProtocol`), accept errors that back off, and malformed requests that are counted
rather than logged one line each.

Modules, one job each:
- `limits`      the per-listener limits and counters (`exporter_http_connections*`)
- `tlsio`       TLS over memory BIOs, and a context that reloads when its files change
- `connection`  one accepted connection: TLS, HTTP/1.1 parsing, running the ASGI app
- `server`      the accept loop, the connection cap, the timeout sweep, shutdown
- `selfmetrics` `process_*`, event-loop lag and the listeners' counters into the snapshot
- `webconfig`   the Prometheus exporter-toolkit web-config file (TLS, basic auth)
"""
