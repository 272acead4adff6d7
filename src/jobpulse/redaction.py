"""Secret redaction, in one place: log records (:mod:`jobpulse.logging`) and health messages
(:mod:`jobpulse.runtime.health`) use it.

Two tools for two audiences:

* :func:`redact_text` / :func:`redact_value` keep a log line useful: secrets recognisable by their shape
  (bearer tokens, provider API keys, JWTs, AWS keys, URL passwords) and values under secret-looking keys
  become ``[REDACTED]``, the rest stays;
* :func:`sanitize_message` makes an error message safe for a health endpoint anyone may read: the given
  secrets, every URL and every credential or connection parameter go, and the message is cut short.

This module imports nothing of jobpulse's, so every layer may use it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "MAX_MESSAGE",
    "REDACTED",
    "SECRET_PATTERNS",
    "SECRET_WORDS",
    "redact_text",
    "redact_value",
    "sanitize_message",
    "secret_key",
    "url_secrets",
]

# --- log records ------------------------------------------------------------------------------------------
REDACTED = "[REDACTED]"
#: Key names (lower case, ``-`` read as ``_``) whose values are secrets, matched as whole ``_``-separated words.
SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "auth",
    "api_key",
    "apikey",
    "cookie",
    "set_cookie",
    "session",
    "sessionid",
    "private_key",
    "credential",
    "credentials",
    "access_key",
    "signature",
    "dsn",
)
_SECRET_KEY = re.compile(r"(?:^|_)(?:" + "|".join(re.escape(w) for w in SECRET_WORDS) + r")(?:$|_)")
#: Secrets recognisable by their shape, wherever they appear in a string.
SECRET_PATTERNS: tuple[tuple[str, str], ...] = (
    # "Authorization: Basic dXNlcjpwYXNz", "authorization=Digest ..." (the scheme word is kept)
    (
        r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|digest|token)?\s*)[^\s\"',;]+",
        r"\1" + REDACTED,
    ),
    (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}", r"\1 " + REDACTED),  # "Bearer abc…" anywhere
    # provider API keys: OpenAI/Anthropic (sk-…, sk-proj-…, sk-ant-…), Stripe (sk_live_…, rk_test_…)
    (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}", REDACTED),
    (r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),
    (r"\bAIza[0-9A-Za-z_-]{30,}", REDACTED),  # Google API keys
    (r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}", REDACTED),  # GitHub tokens
    (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", REDACTED),  # Slack tokens
    (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b", REDACTED),  # AWS access key ids
    (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", REDACTED),  # JWTs
    # password=…, "api_key": "…", token: … inside free text
    (
        r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+",
        r"\1" + REDACTED,
    ),
    (r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@", r"\1" + REDACTED + "@"),  # scheme://user:password@
)
_PATTERNS = [(re.compile(p), r) for p, r in SECRET_PATTERNS]
#: Every pattern above needs one of these (lower-cased) in the text: a cheap test that skips the regexes.
_HINTS = (
    "authorization",
    "bearer",
    "token",
    "sk-",
    "_live_",
    "_test_",
    "aiza",
    "gh",
    "xox",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "eyj",
    "passw",
    "pwd",
    "secret",
    "key",
    "://",
)
_MAX_DEPTH = 6


_SECRET_KEYS: dict[str, bool] = {}


def secret_key(key: object) -> bool:
    """Whether values under this key name are secrets (``db_password``, ``X-Api-Key``, ``Cookie``, …)."""
    name = str(key)
    known = _SECRET_KEYS.get(name)
    if known is None:
        known = bool(_SECRET_KEY.search(name.lower().replace("-", "_")))
        if len(_SECRET_KEYS) < 4096:  # key names repeat; the cache stays small even for odd callers
            _SECRET_KEYS[name] = known
    return known


def redact_text(text: str) -> str:
    """``text`` with bearer tokens, API keys, JWTs, AWS keys and URL passwords replaced by ``[REDACTED]``."""
    lowered = text.lower()
    for hint in _HINTS:
        if hint in lowered:
            break
    else:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``: secret keys blanked in mappings, secret shapes blanked in strings."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        return {str(k): REDACTED if secret_key(k) else redact_value(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in list(value)[:200]]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    try:
        text = str(value)
    except Exception:  # a log line must never raise into the app
        return f"<unprintable {type(value).__name__}>"
    return redact_text(text)


# --- health messages ------------------------------------------------------------------------------------
MAX_MESSAGE = 300
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_SECRET_KV = re.compile(
    r"(?i)\b(password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?key|auth|authorization|"
    r"user|username|dbname|host|hostaddr|service|sslkey|sslpassword|dsn)(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,;)]+)"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def sanitize_message(message: str, secrets: Iterable[str] = ()) -> str:
    """Make an error message safe to show on a health endpoint.

    Removes every ``secret`` given (and its URL-decoded form), every URL (``scheme://...`` — a
    connection string even without a password), ``key=value`` pairs whose key names a credential or a
    connection parameter, and control characters; then truncates to 300 characters.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        for form in {secret, unquote(secret)}:
            message = message.replace(form, "***")
    message = _URL.sub("<url>", message)
    message = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}***", message)
    message = _CONTROL.sub(" ", message)
    message = re.sub(r"\s+", " ", message).strip()
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message


def url_secrets(url: str) -> list[str]:
    """The parts of a URL or DSN that must never be shown: the whole string, its password and query."""
    out = [url]
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if parts.password:
            out.append(parts.password)
        if parts.query:
            out.append(parts.query)
    return out
