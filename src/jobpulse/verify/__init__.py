"""Verification helpers: real Prometheus/Alertmanager binaries and servers."""
