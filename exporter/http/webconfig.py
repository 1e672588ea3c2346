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

Failure semantics: a bad file is a config error at start (exit 2, one line naming the key).
The TLS files are reloaded when they change. The file itself is re-read when it changes
(checked at most once a second, and at SIGHUP), as the toolkit does: `basic_auth_users`
take effect at once; a file that has become bad is logged (one line) and the last good
users are kept; a changed `tls_server_config` section is logged as needing a restart. Basic
auth (`basic_auth.BasicAuth`) covers every path except /healthz and /readyz; a wrong or
missing password is 401 with `WWW-Authenticate`, and never logged with the password.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.config import ConfigError
from exporter.tls import TlsSource, web_config_source

from .basic_auth import OPEN_PATHS, BasicAuth

__all__ = ["OPEN_PATHS", "BasicAuth", "WebConfig", "WebConfigFile", "load_web_config"]

log = logging.getLogger(__name__)


@dataclass
class WebConfig:
    tls: TlsSource | None = None  # exporter.tls turns it into the listener's context
    users: dict[str, bytes] = field(default_factory=dict)
    tls_settings: Any = None  # the tls_server_config section as written (to see it change)


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
    out = WebConfig(tls_settings=data.get("tls_server_config"))
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


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class WebConfigFile:
    """The web-config file, re-read when it changes: `users()` is what `BasicAuth` asks for
    on each request (a stat at most every `check_every` seconds); `reload()` re-reads now
    (SIGHUP). A bad file keeps the last good users and logs one line."""

    def __init__(
        self,
        path: str,
        current: WebConfig,
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.current = path, current
        self.check_every, self.clock = check_every, clock
        self._stamp = _stamp(path)
        self._checked: float | None = None  # None: the first request checks at once
        self.reloads = 0

    def users(self) -> Mapping[str, bytes]:
        now = self.clock()
        if self._checked is None or now - self._checked >= self.check_every:
            self._checked = now
            if _stamp(self.path) != self._stamp:
                self.reload()
        return self.current.users

    def reload(self) -> str:
        """Re-read the file now; a one-line account of what happened."""
        self._stamp = _stamp(self.path)
        try:
            fresh = load_web_config(self.path)
        except ConfigError as exc:
            log.warning("%s; keeping the previous basic-auth users", exc)
            return f"web-config not reloaded ({exc})"
        if fresh.tls_settings != self.current.tls_settings:
            log.warning(
                "listen.web_config_file %s: tls_server_config changed; restart to apply it "
                "(its certificate files reload by themselves)",
                self.path,
            )
        changed = fresh.users != self.current.users
        if changed:  # a new mapping object: BasicAuth forgets its remembered successes
            self.current.users = fresh.users
            self.reloads += 1
            log.info(
                "listen.web_config_file %s reloaded: %d basic-auth user(s)",
                self.path,
                len(fresh.users),
            )
        return f"web-config {'reloaded' if changed else 'unchanged'} ({len(fresh.users)} users)"
