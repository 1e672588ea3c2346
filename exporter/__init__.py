"""Observability and autoscaling exporter for workflow and LLM platforms on Kubernetes."""

__version__ = "0.1.0"
