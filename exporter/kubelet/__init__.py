"""Clients of the kubelet's node-local APIs (pod resources)."""
