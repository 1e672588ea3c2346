"""The Kubernetes external and custom metrics APIs, served over HTTPS as an aggregated API.

Modules, one job each:
- `selectors`  label selectors with k8s.io/apimachinery/pkg/labels grammar and matching
- `quantity`   floats as canonical resource.Quantity strings (NaN/Inf refused, negatives -> 0)
- `providers`  where values come from: the `MetricsProvider` protocol (also for non-HTTP
               callers), the snapshot and PromQL providers, fallback and staleness
- `discovery`  the served group/versions (`VERSIONS`) and the discovery documents
- `app`        the ASGI app: routing, auth, bodies, metav1.Status errors, Accept negotiation
- `request`    request checks before routing: sizes (414), the path decoded once, the query
- `auth`       front-proxy client-certificate authentication and X-Remote-* headers
- `tls`        serving certificate (files or self-signed), client-cert request, ASGI TLS info
- `listener`   the HTTPS listener `exporter serve` runs on `listen.https`

Configuration (`metrics_api` in the config file):

    metrics_api:
      tls: {cert_file: /tls/tls.crt, key_file: /tls/tls.key}   # omit: self-signed at start
      authentication:
        requestheader_client_ca_file: /front-proxy/ca.crt      # or from_cluster: true
        requestheader_allowed_names: [front-proxy-client]
      external:
        - {name: queue_depth, source: snapshot}                # catalog metric, live snapshot
        - name: inflight_requests
          source: promql
          query: sum(http_requests_in_flight{namespace="{namespace}",{selector}})
          fallback: 0                                          # served when Prometheus fails
        - name: gpu_utilization_ratio                          # the embedded default's
          source: promql
          query: ...                                           # nothing when agents are stale
          require_series: true                                 # and nothing is a 503
      custom:
        - name: active_streams
          source: promql
          query: sum by (pod) (sse_streams_active{namespace="{namespace}",{selector}})
          window_seconds: 60

PromQL placeholders: `{namespace}` (request namespace), `{selector}` (the request's label
selectors as PromQL matchers, comma-separated, possibly empty: PromQL accepts the trailing
comma), and for object metrics `{name}`, `{resource}`, `{component_class}`. Selector keys are
written the way Prometheus' `labelmap` relabelling writes pod labels (`app.kubernetes.io/name`
-> `app_kubernetes_io_name`). Pods metrics need a `pod` label on each result series.

Snapshot metrics describe the configured namespace only (other namespaces: 404) and are
unavailable before the first collection and when a series is older than 3 collection
intervals. Kubernetes label values cannot contain ':', so select queues by
`component_class` (the default queue names `jobs:<class>` are not selectable by `queue`).

Replicas: each exporter replica runs its own collectors into its own snapshot and queries the
same Prometheus; nothing else is kept between requests, so replicas answer the same (to within
one collection interval) and kube-apiserver may send each request to any of them.
"""
