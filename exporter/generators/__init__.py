"""Generators: Grafana dashboards, Prometheus alerts and Kubernetes manifests from one Config.

One package per output (`dashboards`, `alerts`, `k8s`), each with a `render(config)` (file
name -> text) and a `generate(config, out_dir)`. Shared by all three: `promql` (query
builders and the PromQL fragments several outputs use), `peer_metrics` (metrics other
exporters emit) and `output` (the one YAML writer and the one file writer).
"""
