"""The telemetry spec: wire models (what users write), YAML loading, the resolved model."""
