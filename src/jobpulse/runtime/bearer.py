"""The bearer-token check shared by ``/metrics`` (:mod:`jobpulse.runtime.exposition`) and the health endpoints
(:mod:`jobpulse.runtime.health`): ``Authorization: Bearer <token>``, the scheme word in any case (RFC 7235), the
token compared in constant time.

An empty or blank token is a configuration mistake — usually an unset environment variable — and raises
``ValueError`` when the app is built, rather than serving the endpoint to anyone (``token=None`` is the way to
say "no authentication").
"""

from __future__ import annotations

import hmac

__all__ = ["BearerToken"]


class BearerToken:
    """A validated token; :meth:`allows` checks an ``Authorization`` header value."""

    __slots__ = ("_token",)

    def __init__(self, token: str, *, what: str, env: str) -> None:
        """``what`` names the owner in errors (``MetricsApp: the metrics token``), ``env`` the usual variable."""
        if not isinstance(token, str) or not token.strip():
            raise ValueError(
                f"{what} is empty; pass token=None to serve without authentication, or set the token (is {env} set?)"
            )
        if token != token.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in token):
            raise ValueError(f"{what} must not contain spaces or control characters")
        self._token = token.encode()

    def allows(self, header: bytes) -> bool:
        """Whether ``header`` (the ``Authorization`` value) is ``Bearer <this token>``."""
        scheme, _, credentials = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(credentials.strip(b" \t"), self._token)
