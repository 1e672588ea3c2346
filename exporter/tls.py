"""Every listener's TLS, in one module: where a serving certificate comes from (files, reloaded
when they change, or the self-signed pair made at start), the client CA it verifies, the
web-config file's `tls_server_config`, the one `SSLContext` builder, and the ASGI `tls`
extension a connection hands its app.

A listener is declared (`exporter.serving.declare`) with a `TlsSource`; the HTTP listeners
turn it into a `ReloadingContext`, the gRPC scaler into PEM bytes for its credentials. The
self-signed pair (`SelfSigned`) is made once per process, in a child Python (cryptography
stays out of the exporter), and shared by every listener without files of its own.

Failure semantics: unreadable or bad files at start raise `TlsStartupError` (an OSError:
one line, exit 1); a bad web-config TLS block is a ConfigError (exit 2) naming the key;
files that turn bad later keep the previous context (`ReloadingContext`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from exporter.config import ConfigError

log = logging.getLogger(__name__)

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class TlsStartupError(OSError):
    """A listener's TLS cannot be set up (unreadable files, a failed self-signed pair)."""


# -- sources and contexts -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TlsSource:
    """Where one listener's TLS comes from. No cert/key files: the self-signed pair."""

    label: str  # names the listener in logs and errors ("metrics API", "HTTP listener")
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    client_ca_pem: str | None = None
    verify: ssl.VerifyMode = ssl.CERT_NONE  # what is asked of clients when a CA is given
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2

    @property
    def self_signed(self) -> bool:
        return not (self.cert_file and self.key_file)


def server_context(
    cert_file: str,
    key_file: str,
    client_ca_pem: str | None = None,
    *,
    client_ca_file: str | None = None,
    verify: ssl.VerifyMode = ssl.CERT_OPTIONAL,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """The one server context builder: TLS 1.2+ (or `min_version`); with a client CA (PEM
    text or file), client certificates are asked for with `verify`, else none is."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_version
    ctx.load_cert_chain(cert_file, key_file)
    if (client_ca_pem or client_ca_file) and verify != ssl.CERT_NONE:
        ctx.verify_mode = verify
        ctx.load_verify_locations(cafile=client_ca_file, cadata=client_ca_pem)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _stamp(paths: Sequence[str]) -> tuple:
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ReloadingContext:
    """A server `SSLContext` rebuilt when any of its files changes (certificate rotation by
    cert-manager or a mounted Secret's symlink swap).

    The files are stat'ed at most once per `check_every` seconds, on a new connection. A
    rebuild that fails (half-written files during a rotation) keeps the previous context and
    logs one warning per distinct change; new connections keep being served.
    """

    def __init__(
        self,
        build: Callable[[], ssl.SSLContext],
        files: Sequence[str],
        name: str,
        check_every: float = 1.0,
    ) -> None:
        self._build = build
        self._files = [f for f in files if f]
        self._name = name
        self._check_every = check_every
        self._context = build()  # a failure here is a start-up error, raised to the caller
        self._stamp = _stamp(self._files)
        self._checked = time.monotonic()
        self.reloads = 0

    def get(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked >= self._check_every:
            self._checked = now
            stamp = _stamp(self._files)
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._context = self._build()
                    self.reloads += 1
                    log.info("%s: TLS files changed, certificate reloaded", self._name)
                except (OSError, ssl.SSLError, ValueError) as exc:
                    log.warning("%s: TLS files changed but cannot be loaded: %s", self._name, exc)
        return self._context


def reloading_context(source: TlsSource, cert: str, key: str) -> ReloadingContext:
    """`source`'s context on (cert, key) (its own files, or the self-signed pair), rebuilt
    when a file changes; TlsStartupError when it cannot be built now."""

    def build() -> ssl.SSLContext:
        return server_context(
            cert,
            key,
            source.client_ca_pem,
            client_ca_file=source.client_ca_file,
            verify=source.verify,
            min_version=source.min_version,
        )

    try:
        return ReloadingContext(build, [cert, key, source.client_ca_file or ""], source.label)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsStartupError(f"{source.label} TLS setup failed: {exc}") from None


def own_pair(source: TlsSource) -> tuple[str, str] | None:
    """The source's own (cert, key) files, or None for the self-signed pair;
    TlsStartupError when one cannot be read."""
    if source.self_signed:
        return None
    assert source.cert_file and source.key_file
    for f in (source.cert_file, source.key_file):
        if not Path(f).is_file():
            raise TlsStartupError(f"{source.label}: cannot read {f!r}")
    return source.cert_file, source.key_file


async def serving_pair(source: TlsSource, self_signed: SelfSigned) -> tuple[str, str]:
    """(cert, key) file paths: the source's own, or the process's self-signed pair."""
    return own_pair(source) or await self_signed.files()


def pem_bytes(cert: str, key: str, client_ca_file: str | None) -> tuple[bytes, bytes, bytes | None]:
    """(key, cert, client CA) PEM bytes, for a listener (gRPC) that takes bytes, not files."""
    try:
        ca = Path(client_ca_file).read_bytes() if client_ca_file else None
        return Path(key).read_bytes(), Path(cert).read_bytes(), ca
    except OSError as exc:
        raise TlsStartupError(f"TLS files: {exc.strerror}: {exc.filename}") from None


# -- the self-signed pair -------------------------------------------------------------------
def generate_self_signed(directory: str | os.PathLike[str], hosts: list[str]) -> tuple[str, str]:
    """A self-signed EC P-256 serving certificate for `hosts` (DNS names or IPs), valid a year."""
    # cryptography (with its own OpenSSL, ~14 MB resident) only when a certificate is made
    from exporter.certs import issue

    pair = issue(hosts[0], hosts=hosts, ca=True, valid_days=365)
    directory = Path(directory)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    pair.write(cert_path, key_path)
    return str(cert_path), str(key_path)


def default_hosts(namespace: str) -> list[str]:
    """Names a self-signed certificate covers: loopback, this host, the in-cluster Service."""
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    svc = "exporter"
    hosts += [f"{svc}.{namespace}.svc", f"{svc}.{namespace}.svc.cluster.local"]
    return list(dict.fromkeys(hosts))


def self_signed_files(namespace: str) -> tuple[str, str]:
    """Generate a self-signed pair into a fresh private temp dir (the process may run with a
    read-only root filesystem, where only the temp dir is writable)."""
    directory = tempfile.mkdtemp(prefix="exporter-tls-")
    return generate_self_signed(directory, default_hosts(namespace))


_CHILD = (
    "import sys\n"
    "from exporter.tls import self_signed_files\n"
    "print(*self_signed_files(sys.argv[1]))\n"
)


async def self_signed_files_in_child(namespace: str, timeout: float = 60.0) -> tuple[str, str]:
    """`self_signed_files` run in a child Python, so cryptography (its own OpenSSL, ~12 MB
    resident) never loads into the long-running exporter. RuntimeError carries the child's
    last stderr line when it fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, namespace,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"generating the certificate took over {timeout:g} s") from None
    lines = err.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or len(out.split()) != 2:
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
    cert, key = out.decode().split()
    return cert, key


class SelfSigned:
    """The self-signed serving pair when no files are configured: made once, on first need,
    and shared by every listener that needs it (one certificate to trust). `files()` raises
    TlsStartupError when the child fails."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._task: asyncio.Future[tuple[str, str]] | None = None

    async def files(self) -> tuple[str, str]:
        if self._task is None:
            self._task = asyncio.ensure_future(self_signed_files_in_child(self.namespace))
        try:
            return await asyncio.shield(self._task)
        except (RuntimeError, OSError) as exc:
            raise TlsStartupError(f"self-signed serving certificate: {exc}") from None


def certificate_fingerprint(cert_path: str) -> str:
    der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())
    return hashlib.sha256(der).digest().hex(":")


# -- the exporter-toolkit web-config file's tls_server_config -------------------------------
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
WEB_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}


def web_config_source(path: str, tls: Any) -> TlsSource:
    """`tls_server_config` as a TlsSource, its files loaded once to prove them; ConfigError
    (`listen.web_config_file PATH: KEY: why`) names the first bad key."""

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"listen.web_config_file {path}: {key}: {why}")

    if not isinstance(tls, dict):
        raise fail("tls_server_config", "must be a mapping")
    for key in tls:
        if key not in WEB_TLS_KEYS:
            raise fail(f"tls_server_config.{key}", "unknown or unsupported key")
    cert, key = tls.get("cert_file"), tls.get("key_file")
    if not cert or not key:
        raise fail("tls_server_config", "cert_file and key_file are both required")
    auth = tls.get("client_auth_type") or "NoClientCert"
    if auth not in CLIENT_AUTH:
        why = f"{auth!r} is not supported; use one of {', '.join(CLIENT_AUTH)}"
        raise fail("tls_server_config.client_auth_type", why)
    ca = tls.get("client_ca_file")
    if CLIENT_AUTH[auth] != ssl.CERT_NONE and not ca:
        raise fail("tls_server_config.client_ca_file", f"required by {auth}")
    version = tls.get("min_version") or "TLS12"
    if version not in VERSIONS:
        raise fail("tls_server_config.min_version", "must be TLS12 or TLS13")
    source = TlsSource(
        "HTTP listener",
        str(cert),
        str(key),
        client_ca_file=str(ca) if ca and CLIENT_AUTH[auth] != ssl.CERT_NONE else None,
        verify=CLIENT_AUTH[auth],
        min_version=VERSIONS[version],
    )
    try:
        reloading_context(source, source.cert_file or "", source.key_file or "")
    except TlsStartupError as exc:
        raise fail("tls_server_config", f"cannot load: {exc}") from None
    return source


# -- the ASGI `tls` extension ---------------------------------------------------------------
# ssl's names for subject attributes -> RFC 4514 short names
_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _rfc4514_value(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def _subject(peer: dict) -> tuple[str, tuple[str, ...]]:
    """(RFC 4514 subject string, common names) from `SSLObject.getpeercert()`'s dict."""
    rdns = peer.get("subject", ())
    parts = []
    for rdn in reversed(rdns):  # RFC 4514 lists the most specific RDN first
        parts.append("+".join(f"{_SHORT.get(k, k)}={_rfc4514_value(v)}" for k, v in rdn))
    cns = tuple(v for rdn in rdns for k, v in rdn if k == "commonName")
    return ",".join(parts), cns


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict:
    """The ASGI TLS extension dict for a connection (plus our parsed `client_cert_common_names`).

    The client certificate is the one OpenSSL verified in the handshake (the context asks
    for one only when a client CA is configured), read without parsing X.509 here."""
    if ssl_object is None:
        return {}
    der = ssl_object.getpeercert(binary_form=True)
    info: dict = {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        "client_cert_common_names": (),
    }
    if der:
        name, cns = _subject(ssl_object.getpeercert() or {})
        info["client_cert_chain"] = [ssl.DER_cert_to_PEM_cert(der)]
        info["client_cert_name"] = name
        info["client_cert_common_names"] = cns
    return info
