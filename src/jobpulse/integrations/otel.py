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

from jobpulse.extras import require

__all__ = ["setup_tracing"]


def setup_tracing(service_name: str, *, endpoint: str | None = None, exporter: Any = None) -> Any:
    """Install a global TracerProvider exporting spans in batches; returns it (call ``shutdown()`` on exit).

    ``endpoint`` is the collector's traces URL (``http://host:4318/v1/traces``); ``exporter`` replaces the
    OTLP exporter (e.g. an in-memory one in tests).
    """
    feature = "OpenTelemetry export"
    trace = require("opentelemetry.trace", extra="otel", feature=feature)
    resources = require("opentelemetry.sdk.resources", extra="otel", feature=feature)
    sdk_trace = require("opentelemetry.sdk.trace", extra="otel", feature=feature)
    export = require("opentelemetry.sdk.trace.export", extra="otel", feature=feature)
    if exporter is None:
        otlp = require("opentelemetry.exporter.otlp.proto.http.trace_exporter", extra="otel", feature=feature)
        exporter = otlp.OTLPSpanExporter(endpoint=endpoint) if endpoint else otlp.OTLPSpanExporter()
    provider = sdk_trace.TracerProvider(resource=resources.Resource.create({"service.name": service_name}))
    provider.add_span_processor(export.BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
