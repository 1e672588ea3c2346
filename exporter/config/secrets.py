"""Where secrets come from (mounted files, env vars) and the one redaction function.

Secrets are held as `SecretStr`, so they never reach a log line, a metric or `check-config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

REDACTED = "***"

# scheme://user:PASSWORD@ -- the password runs to the LAST '@' on the line, so it may hold
# any character ('@', ':', '/', '#', '%40', a space); masking too much is safe, too little not.
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\n]*@")
_SECRET_KEYS = r"(?:password|passwd|pwd|sslpassword|sslkey_password|token|secret)"
# ?password=... / &password=... in a query string: up to the next '&', '#' or blank
_IN_QUERY = re.compile(rf"([?&;]{_SECRET_KEYS}=)[^&#\s]*", re.IGNORECASE)
# libpq key=value: password=secret or password='a b\'c' (quoted: to the closing quote)
_KEY_VALUE = re.compile(
    rf"((?<![?&;\w]){_SECRET_KEYS}\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s]*)", re.IGNORECASE
)


def redact_url(text: str) -> str:
    """`text` (a URL, a DSN, a libpq key=value string, or any message holding them) with
    every password masked: userinfo passwords of any characters, `password=` in a query
    string, `password=` / `password='...'` in libpq key=value strings.

    The one redaction function: errors, logs, check-config and generated files all use it.
    A regex rather than urlsplit: it must also work on addresses too broken to parse.
    """
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _IN_QUERY.sub(rf"\1{REDACTED}", text)
    return _KEY_VALUE.sub(rf"\1{REDACTED}", text)


def holds_secret(address: str) -> bool:
    """Whether an address carries a password inline (anything `redact_url` would mask)."""
    return redact_url(address) != address


def read_secret_file(path: str, field: str) -> SecretStr:
    """The stripped content of `path`; ValueError naming `field` when it cannot be read."""
    try:
        return SecretStr(Path(path).read_text().strip())
    except OSError as exc:
        raise ValueError(f"cannot read {field} {path!r}: {exc.strerror}") from None


def read_secret_env(name: str, field: str, environ: Mapping[str, str] | None = None) -> SecretStr:
    """The value of env var `name`; ValueError naming `field` when it is not set."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        raise ValueError(f"{field} names environment variable {name!r}, which is not set")
    return SecretStr(value)


def secret_file_path(v: str) -> str:
    """An absolute path to a mounted secret; the value is never echoed (it may be the secret)."""
    if not v.startswith("/") or "://" in v or any(c.isspace() for c in v):
        raise ValueError(
            "must be the absolute path of a file holding the secret (the secret itself "
            "never goes into the config)"
        )
    return v
