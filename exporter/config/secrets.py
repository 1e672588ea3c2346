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

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact_url(url: str) -> str:
    """The URL (or any text holding URLs) with passwords masked, safe for logs and errors.

    A regex rather than urlsplit: it must also work on URLs too broken to parse.
    """
    return _PASSWORD_IN_URL.sub(rf"\1{REDACTED}@", url)


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
