"""``/metrics``: the exposition of a registry, rendered incrementally, served by a pure-ASGI app.

- :class:`MetricsApp` (``app``): the ASGI app — format negotiation, gzip, ``name[]``, bearer token.
- :class:`Renderer` (``render``): prometheus_client's text and OpenMetrics output, byte for byte, doing only the
  work that changed since the last scrape.
- ``negotiate``: ``Accept``/``Accept-Encoding``/``name[]`` handling; ``style``: how each part of a line is written.
"""

from jobpulse.runtime.exposition.app import GZIP_LEVEL, Message, MetricsApp, Receive, Scope, Send
from jobpulse.runtime.exposition.negotiate import OPENMETRICS, TEXT, Format, negotiate
from jobpulse.runtime.exposition.render import Renderer

__all__ = [
    "GZIP_LEVEL",
    "OPENMETRICS",
    "TEXT",
    "Format",
    "Message",
    "MetricsApp",
    "Receive",
    "Renderer",
    "Scope",
    "Send",
    "negotiate",
]
