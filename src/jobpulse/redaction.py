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
    "redact_urls",
    "redact_value",
    "sanitize_message",
    "secret_key",
    "url_secrets",
]

# --- log records ------------------------------------------------------------------------------------------
REDACTED = "[REDACTED]"
#: Key names whose values are secrets, matched as whole words of the key: ``db_password``, ``DB_PASSWORD``,
#: ``X-Api-Key``, ``dbPassword`` and ``accessToken`` all name one (camelCase and ``-``/``.`` are read as ``_``).
SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pass",
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
    "jwt",
)
_SECRET_KEY = re.compile(r"(?:^|_)(?:" + "|".join(re.escape(w) for w in SECRET_WORDS) + r")(?:$|_)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
#: The scheme word of an ``Authorization`` value, kept visible in front of the redacted credential.
_SCHEME = r"(?:basic|bearer|digest|token|negotiate|ntlm|apikey|hoba|mutual|aws4-hmac-sha256)"

#: Secrets recognisable by their shape, wherever they appear in a string.
SECRET_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}", r"\1 " + REDACTED),  # "Bearer abc…" anywhere
    # provider API keys: OpenAI/Anthropic (sk-…, sk-proj-…, sk-ant-…), Stripe (sk_live_…, rk_test_…)
    (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}", REDACTED),
    (r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),
    (r"\bAIza[0-9A-Za-z_-]{30,}", REDACTED),  # Google API keys
    (r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}", REDACTED),  # GitHub tokens
    (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", REDACTED),  # Slack tokens
    (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b", REDACTED),  # AWS access key ids
    (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", REDACTED),  # JWTs
)
_PATTERNS = [(re.compile(p), r) for p, r in SECRET_PATTERNS]

# The password of a URL, ``scheme://user:password@host``. The user may be empty (``redis://:pw@cache``) and the
# password may hold ``/``, ``@`` and ``:`` unencoded: it runs to the last ``@`` of the URL that a host name follows
# (then a port, a path, a query or the URL's end), so ``p@ss/w@db:5432/x`` hides ``p@ss/w``. Reading it this
# greedily may hide more than the password when a URL's path also holds an ``@`` — never less.
_URL_USERINFO = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@'\"<>]*:)([^\s'\"<>?#]*)@(?=[^\s@/?#'\"<>]*(?:[/?#\s'\"<>,;)\]}]|$))"
)
# ``Cookie: a=1; b=2`` / ``Set-Cookie: ...`` as a header line: every value up to the end of the line goes.
_COOKIE_HEADER = re.compile(r"(?im)\b((?:set-)?cookie\s*:\s*)(?![\"'])([^\r\n]+)")
# A header list as ASGI or WSGI prints it: ``(b'authorization', b'Basic ...')``, ``["x-api-key", "..."]``.
_HEADER_PAIR = re.compile(r"""([(\[]\s*b?(["'])([\w.-]{1,64})\2\s*,\s*b?(["']))((?:\\.|(?!\4)[^\\\n])*)(\4)""")
# ``key=value``, ``key: value``, ``"key": "value"``, ``'key': b'value'``: the key (any case style) is checked
# against SECRET_WORDS; an unquoted value runs to whitespace or punctuation, and a scheme word before it
# (``Authorization: Basic ...``) is kept in front of the redacted credential.
_KEY_VALUE = re.compile(
    r"(?:b?\"(?P<dq>[A-Za-z_][\w.-]{0,63})\"|b?'(?P<sq>[A-Za-z_][\w.-]{0,63})'|(?<![\w.-])(?P<bare>[A-Za-z_][\w.-]{0,63}))"
    r"(?P<sep>\s*[:=]\s*)"
    r"(?:(?P<qv>b?(?P<q>[\"'])(?:\\.|(?!(?P=q))[^\\\n])*(?P=q))|(?P<scheme>(?i:" + _SCHEME + r")\s+)?"
    r"(?P<value>[^\s\"',;&)\]}]+))"
)
#: Every rule above needs one of these (lower-cased) in the text: a cheap test that skips the regexes.
_HINTS = (
    "auth",
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
    "pass",
    "pwd",
    "secret",
    "key",
    "cookie",
    "session",
    "credential",
    "signature",
    "dsn",
    "jwt",
    "://",
)
_MAX_DEPTH = 6


_SECRET_KEYS: dict[str, bool] = {}


def secret_key(key: object) -> bool:
    """Whether values under this key name are secrets (``db_password``, ``X-Api-Key``, ``dbPassword``, ``Cookie``)."""
    name = str(key)
    known = _SECRET_KEYS.get(name)
    if known is None:
        words = _CAMEL.sub("_", name).lower().replace("-", "_").replace(".", "_")
        known = bool(_SECRET_KEY.search(words))
        if len(_SECRET_KEYS) < 4096:  # key names repeat; the cache stays small even for odd callers
            _SECRET_KEYS[name] = known
    return known


def _redact_quoted(quoted: str) -> str:
    """A quoted value (``"..."``, ``b'...'``) with its content redacted, a leading scheme word kept."""
    prefix = "b" if quoted.startswith("b") else ""
    quote = quoted[len(prefix)]
    inner = quoted[len(prefix) + 1 : -1]
    scheme = re.match(r"(?i)" + _SCHEME + r"\s+", inner)
    kept = scheme.group(0) if scheme else ""
    return f"{prefix}{quote}{kept}{REDACTED}{quote}"


def _redact_key_values(text: str) -> str:
    """Values under secret keys redacted. A match under an ordinary key resumes the search right after its
    separator, since its "value" may be a secret pair itself (``ConnectionError: DB_PASSWORD=x``)."""
    out: list[str] = []
    done = pos = 0
    search = _KEY_VALUE.search
    while (match := search(text, pos)) is not None:
        key = match.group("dq") or match.group("sq") or match.group("bare")
        if not secret_key(key):
            pos = match.end("sep")
            continue
        out.append(text[done : match.end("sep")])
        if match.group("qv") is not None:
            out.append(_redact_quoted(match.group("qv")))
        else:
            out.append((match.group("scheme") or "") + REDACTED)
        done = pos = match.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _header_pair(match: re.Match[str]) -> str:
    if not secret_key(match.group(3)):
        return match.group(0)
    scheme = re.match(r"(?i)" + _SCHEME + r"\s+", match.group(5))
    return match.group(1) + (scheme.group(0) if scheme else "") + REDACTED + match.group(6)


def redact_urls(text: str, marker: str = REDACTED) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL replaced by ``marker``."""
    if "://" not in text:
        return text
    return _URL_USERINFO.sub(lambda m: m.group(1) + marker + "@", text)


def redact_text(text: str) -> str:
    """``text`` with secrets replaced by ``[REDACTED]``: values under secret-looking keys (``KEY=value``,
    ``"key": "value"``, header lines and header lists), cookies, the credential after an ``Authorization``
    scheme, bearer tokens, provider API keys, JWTs, AWS keys and URL passwords."""
    lowered = text.lower()
    for hint in _HINTS:
        if hint in lowered:
            break
    else:
        return text
    if "cookie" in lowered:
        text = _COOKIE_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HEADER_PAIR.sub(_header_pair, text)
    text = _redact_key_values(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return redact_urls(text)


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

    Removes every ``secret`` given (and its URL-decoded form), everything :func:`redact_text` hides in a log
    line, every URL (``scheme://...`` — a connection string even without a password), ``key=value`` pairs whose
    key names a credential or a connection parameter, and control characters; then truncates to 300 characters.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        for form in {secret, unquote(secret)}:
            message = message.replace(form, "***")
    message = redact_text(message).replace(REDACTED, "***")  # the log rules first: secrets by key and shape
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
    userinfo = _URL_USERINFO.search(url)
    if userinfo is not None and userinfo.group(2):  # the password even with "/" or "@" in it
        out.append(userinfo.group(2))
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if parts.password:
            out.append(parts.password)
        if parts.query:
            out.append(parts.query)
    return out
