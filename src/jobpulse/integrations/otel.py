"""Send traces to an OTLP collector (``pip install jobpulse[otel]``).

::

    from jobpulse.integrations.otel import setup_tracing
    setup_tracing("ai-shorts")                  # OTLP/HTTP to $OTEL_EXPORTER_OTLP_ENDPOINT or localhost:4318
    app = OpenTelemetryMiddleware(CorrelationMiddleware(app))   # OTel outermost: its span ids win

:class:`jobpulse.runtime.context.CorrelationMiddleware` uses the active span's trace and span ids when
there is one, so ``X-Trace-ID``, the JSON logs and the traces share one trace id.
"""

from __future__ import annotations

from typing import Any

__all__ = ["setup_tracing"]

HINT = "OpenTelemetry export needs its SDK: pip install 'jobpulse[otel]'"


def setup_tracing(service_name: str, *, endpoint: str | None = None, exporter: Any = None) -> Any:
    """Install a global TracerProvider exporting spans in batches; returns it (call ``shutdown()`` on exit).

    ``endpoint`` is the collector's traces URL (``http://host:4318/v1/traces``); ``exporter`` replaces the
    OTLP exporter (e.g. an in-memory one in tests).
    """
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ImportError(HINT) from exc
    if exporter is None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ImportError(HINT) from exc
        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
