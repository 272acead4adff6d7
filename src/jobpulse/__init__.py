"""jobpulse: one telemetry spec for job-processing platforms.

The spec drives runtime metrics (prometheus_client), Prometheus rule files, Grafana dashboards,
docs and promtool alert tests.

The names below are imported on first use: ``import jobpulse.compile`` or ``jobpulse lint`` does not load
the runtime (prometheus_client, the tracker, the middleware). See ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from jobpulse._version import __version__ as __version__

if TYPE_CHECKING:
    from jobpulse.runtime.context import CorrelationMiddleware, RequestContext
    from jobpulse.runtime.http import MetricsMiddleware
    from jobpulse.runtime.labels import LabelError
    from jobpulse.runtime.metrics import Telemetry
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

#: public name -> the module that defines it
_HOMES = {
    "CorrelationMiddleware": "jobpulse.runtime.context",
    "Job": "jobpulse.runtime.tracker",
    "JobTracker": "jobpulse.runtime.tracker",
    "LabelError": "jobpulse.runtime.labels",
    "MetricsMiddleware": "jobpulse.runtime.http",
    "RequestContext": "jobpulse.runtime.context",
    "SpecError": "jobpulse.spec.errors",
    "Telemetry": "jobpulse.runtime.metrics",
    "load_spec": "jobpulse.spec.load",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")  # a subpackage: jobpulse.runtime, jobpulse.spec, ...
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
