"""The web-config file of the Prometheus exporter toolkit (`--web.config.file`), for the HTTP
listener (/metrics and the probes), so existing Prometheus scrape configs work unchanged:

    tls_server_config:
      cert_file: /etc/exporter/tls.crt        # both or neither
      key_file: /etc/exporter/tls.key
      client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
      client_ca_file: /etc/exporter/ca.crt
      min_version: TLS12                      # or TLS13
    basic_auth_users:
      prometheus: $2b$12$...                  # bcrypt hashes (htpasswd -nBC 12 prometheus)

Failure semantics: a bad file is a config error (exit 2, one line naming the key). The TLS
files are reloaded when they change. Basic auth covers every path except /healthz and
/readyz (they reveal nothing and kubelet probes carry no credentials); a wrong or missing
password is 401 with `WWW-Authenticate`, and never logged with the password.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from exporter.asgi import respond
from exporter.config import ConfigError
from exporter.tls import TlsSource, web_config_source

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass
class WebConfig:
    tls: TlsSource | None = None  # exporter.tls turns it into the listener's context
    users: dict[str, bytes] = field(default_factory=dict)


def _fail(path: str, key: str, why: str) -> ConfigError:
    return ConfigError(f"listen.web_config_file {path}: {key}: {why}")


def load_web_config(path: str) -> WebConfig:
    """Parse and check the file; ConfigError names the first bad key."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise _fail(path, "file", exc.strerror or str(exc)) from None
    except yaml.YAMLError as exc:
        raise _fail(path, "file", f"not YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _fail(path, "file", "must be a mapping")
    for key in data:
        if key not in ("tls_server_config", "basic_auth_users", "http_server_config"):
            raise _fail(path, str(key), "unknown key")
    out = WebConfig()
    if data.get("tls_server_config"):
        out.tls = web_config_source(path, data["tls_server_config"])
    users = data.get("basic_auth_users") or {}
    if not isinstance(users, dict):
        raise _fail(path, "basic_auth_users", "must map user names to bcrypt hashes")
    for user, hashed in users.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise _fail(path, f"basic_auth_users.{user}", "not a bcrypt hash")
        out.users[str(user)] = hashed.encode()
    if out.users:
        import bcrypt  # noqa: F401  (fail at start, not at the first scrape)
    return out


class BasicAuth:
    """ASGI middleware checking HTTP basic auth against bcrypt hashes.

    bcrypt is slow on purpose (tens of ms), so it runs in a thread, and a successful
    (user, password) is remembered as a salted digest so a scrape every few seconds costs
    one hash lookup, not one bcrypt run.
    """

    MAX_REMEMBERED = 64

    def __init__(self, app: Callable, users: dict[str, bytes]) -> None:
        self.app = app
        self.users = users
        self._ok: set[bytes] = set()
        self._salt = hashlib.sha256(b"".join(users.values())).digest()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if await self._allowed(scope):
            await self.app(scope, receive, send)
            return
        challenge = [(b"www-authenticate", b'Basic realm="exporter"')]
        await respond(send, 401, b"Unauthorized\n", b"text/plain; charset=utf-8", challenge)

    async def _allowed(self, scope) -> bool:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        hashed = self.users.get(user.decode("utf-8", "replace"))
        if not sep or hashed is None:
            return False
        digest = hashlib.sha256(self._salt + user + b"\0" + password).digest()
        if digest in self._ok:
            return True
        import bcrypt

        if not await asyncio.to_thread(bcrypt.checkpw, password, hashed):
            return False
        if len(self._ok) >= self.MAX_REMEMBERED:
            self._ok.clear()
        self._ok.add(digest)
        return True
