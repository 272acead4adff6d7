"""jobpulse: one telemetry spec for job-processing platforms.

The spec drives runtime metrics (prometheus_client), Prometheus rule files, Grafana dashboards,
docs and promtool alert tests.
"""

from jobpulse.runtime.context import CorrelationMiddleware, RequestContext
from jobpulse.runtime.metrics import LabelError, Telemetry
from jobpulse.runtime.middleware import MetricsMiddleware
from jobpulse.runtime.tracker import Job, JobTracker
from jobpulse.spec.errors import SpecError
from jobpulse.spec.load import load_spec

__all__ = [
    "CorrelationMiddleware",
    "Job",
    "JobTracker",
    "LabelError",
    "MetricsMiddleware",
    "RequestContext",
    "SpecError",
    "Telemetry",
    "load_spec",
]
__version__ = "0.1.0"
