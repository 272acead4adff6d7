"""The ASGI types and lifespan handler, under the name the runtime's modules used first (see :mod:`jobpulse.asgi`)."""

from __future__ import annotations

from jobpulse.asgi import Message, Receive, Scope, Send, lifespan

__all__ = ["Message", "Receive", "Scope", "Send", "lifespan"]
