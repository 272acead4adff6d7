"""datadog/metric: a Datadog query names a metric that the spec does not send, or takes pNN of a non-distribution."""

from __future__ import annotations

from jobpulse.lint.datadog_helpers import metric_queries
from jobpulse.lint.problem import ERROR
from jobpulse.lint.registry import Context, check
from jobpulse.spec.datadog_resolve import metric_problems


@check("datadog/metric", severity=ERROR, needs_catalogue=True)
def datadog_metric(ctx: Context) -> None:
    """A Datadog query names a metric the spec never sends to Datadog, or a percentile of a non-distribution."""
    assert ctx.catalogue is not None
    datadog = ctx.catalogue.spec.datadog
    if datadog is None:  # the spec declares no Datadog names: nothing to check against
        return
    for query in ctx.doc.datadog_queries:
        for metric in metric_queries(query):
            for message in metric_problems(metric.metric, metric.percentile is not None, datadog.catalogue):
                ctx.report(
                    query.path,
                    message,
                    at=metric.metric if "pNN" not in message else metric.aggregator,
                    hint="use the Datadog name of a catalogue metric (datadog.metrics in the spec maps the names)",
                    subjects=(*query.subjects, metric.metric),
                )
