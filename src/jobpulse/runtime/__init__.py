"""Runtime instrumentation: the spec's metrics on prometheus_client, the job tracker, the /metrics app."""
