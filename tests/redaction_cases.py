"""The table of secrets that must never reach a log line or a health endpoint (issue 18, item 1).

Each case is (name, text, fragments): ``text`` is what an application or a library error puts in a message,
``fragments`` the parts of the secret that must not survive (for a password with ``/`` or ``@`` in it, each
piece too). The probe that filed issue 18 found 17 of its 39 such cases leaking in JSON logs and 19 in
``/health/detailed``; on this table the redaction before the fix leaked 23 in logs and 30 in health messages.
"""

from __future__ import annotations

CASES: list[tuple[str, str, list[str]]] = [
    # URL passwords: an empty user name, "/" and "@" unencoded in the password
    ("url-empty-user", "redis://:hunter2pw@cache:6379/0", ["hunter2pw"]),
    ("url-empty-user-tls", "rediss://:s3cr3t-token@cache.internal:6380", ["s3cr3t-token"]),
    ("url-password-slash", "postgresql://app:pa/ss9word@db:5432/app", ["pa/ss9word", "ss9word"]),
    ("url-password-at", "postgresql://app:p@ssw0rd@db:5432/app", ["p@ssw0rd", "ssw0rd"]),
    ("url-password-slash-and-at", "amqp://guest:a/b@c9d/e@rabbit:5672/", ["c9d/e", "a/b@c9d"]),
    ("url-password-punctuation", "mysql://root:Zx9/8@7!q@mysql/db", ["Zx9/8", "7!q"]),
    # KEY=value with the key ending in _PASSWORD, _SECRET, _SECRET_ACCESS_KEY, _TOKEN, _API_KEY
    ("env-password", "DB_PASSWORD=hunter2-db", ["hunter2-db"]),
    ("env-postgres-password", "POSTGRES_PASSWORD=pgpass-9931 started", ["pgpass-9931"]),
    ("env-secret-access-key", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ["wJalrXUtnFEMI"]),
    ("env-client-secret", "OAUTH_CLIENT_SECRET=cs-991-abc", ["cs-991-abc"]),
    ("env-secret-key", "SECRET_KEY=django-insecure-abc123", ["django-insecure-abc123"]),
    ("env-token", "GITHUB_TOKEN=plain-token-value", ["plain-token-value"]),
    ("env-bot-token", "SLACK_BOT_TOKEN=slack-plain-value", ["slack-plain-value"]),
    ("env-api-key", "export OPENAI_API_KEY=plainkeyvalue123", ["plainkeyvalue123"]),
    # camelCase keys
    ("camel-access-token", "accessToken=at-123456789", ["at-123456789"]),
    ("camel-json-db-password", '{"dbPassword": "camel-pass-1"}', ["camel-pass-1"]),
    ("camel-api-key", "apiKey: ak-plain-777", ["ak-plain-777"]),
    ("camel-client-secret", "clientSecret='cs-camel-888'", ["cs-camel-888"]),
    ("camel-refresh-token", 'refreshToken="rt-camel-999"', ["rt-camel-999"]),
    # cookies
    ("cookie-header", "Cookie: session=sess-abc123; csrftoken=csrf-xyz789", ["sess-abc123", "csrf-xyz789"]),
    ("set-cookie-header", "Set-Cookie: sessionid=sid-4455; Path=/; HttpOnly", ["sid-4455"]),
    ("cookie-json", '{"cookie": "theme=dark; auth_session=as-8877"}', ["as-8877"]),
    # a printed ASGI (or WSGI) header list
    (
        "asgi-headers",
        "[(b'host', b'example.com'), (b'authorization', b'Basic dXNlcjpwYXNzd29yZA=='), (b'cookie', b'sid=ck-1')]",
        ["dXNlcjpwYXNzd29yZA", "ck-1"],
    ),
    ("asgi-api-key", "headers=[(b'x-api-key', b'xak-plain-555'), (b'accept', b'*/*')]", ["xak-plain-555"]),
    ("header-pairs-str", "[('authorization', 'Bearer opaque-tok-12345')]", ["opaque-tok-12345"]),
    # the credential after the Authorization scheme word
    ("authorization-basic", "Authorization: Basic dXNlcjpodW50ZXIy", ["dXNlcjpodW50ZXIy"]),
    ("authorization-bearer", "Authorization: Bearer opaque.token.value-123", ["opaque.token.value-123", "value-123"]),
    ("authorization-lower", "authorization: bearer abc123def456", ["abc123def456"]),
    ("proxy-authorization", "Proxy-Authorization: Basic cHJveHk6cGFzcw==", ["cHJveHk6cGFzcw"]),
    ("authorization-json", '{"Authorization": "Bearer json-tok-abc123"}', ["json-tok-abc123"]),
    # provider API keys
    ("sk-legacy", "key sk-abcdefghijklmnop1234 refused", ["abcdefghijklmnop1234"]),
    ("sk-proj", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", ["Ab3dEf6hIj9kLm2nOp5qRs8t"]),
    ("sk-ant", "Incorrect API key provided: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", ["AbCdEfGhIjKlMnOpQrStUv"]),
    # JSON and Python-repr passwords
    ("json-password-spaces", '{"user": "ada", "password": "correct horse battery staple"}', ["horse battery"]),
    ("json-password", '{"password":"json-pass-1"}', ["json-pass-1"]),
    ("repr-password", "{'username': 'ada', 'password': 'py-repr-pass'}", ["py-repr-pass"]),
    ("plain-password", "password=hunter2 user=ada", ["hunter2"]),
    ("json-client-secret", '{"client_secret": "json-cs-42"}', ["json-cs-42"]),
    ("header-api-key", "x-api-key: hdr-key-plain-1", ["hdr-key-plain-1"]),
]
assert len(CASES) == 39

#: Text that names secrets without holding one: left as it is in a log line.
HARMLESS = [
    "token validation passed; basic configuration",
    "tokens_used=1234 keyboard=qwerty",
    "the password field is required",
    "https://registry.npmjs.org/@babel/core",
    "postgresql://app@db:5432/app",
    "key: value, monkey=banana",
    "Retrying in 5s (attempt 2/3)",
]


def leaked(text: str, fragments: list[str]) -> list[str]:
    return [fragment for fragment in fragments if fragment in text]
