"""TLS for the metrics-API listener: serving certificate, client-certificate request, and the
peer certificate handed to the app through the ASGI `tls` extension.

uvicorn 0.54 does not put TLS details in the ASGI scope, so `TLSInfoProtocol` (uvicorn's
httptools or h11 protocol with one added step) reads the verified peer certificate once per
connection, after the handshake, and adds `scope["extensions"]["tls"]` to every request on it.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from exporter.certs import issue

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def generate_self_signed(directory: str | os.PathLike[str], hosts: list[str]) -> tuple[str, str]:
    """A self-signed EC P-256 serving certificate for `hosts` (DNS names or IPs), valid a year."""
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


def certificate_fingerprint(cert_path: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":")


def server_context(cert_file: str, key_file: str, client_ca_pem: str | None) -> ssl.SSLContext:
    """TLS 1.2+ server context; with a CA, client certificates are requested and verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem:
        # CERT_OPTIONAL: kube-apiserver's certificate is verified when presented; a request
        # without one reaches the app, which answers 401 (probes on /healthz need none).
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=client_ca_pem)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _common_names(der: bytes) -> tuple[str, ...]:
    cert = x509.load_der_x509_certificate(der)
    return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict:
    """The ASGI TLS extension dict for a connection (plus our parsed `client_cert_common_names`)."""
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
        cert = x509.load_der_x509_certificate(der)
        info["client_cert_chain"] = [ssl.DER_cert_to_PEM_cert(der)]
        info["client_cert_name"] = cert.subject.rfc4514_string()
        info["client_cert_common_names"] = _common_names(der)
    return info


class _TLSInfoMixin:
    """Adds `scope["extensions"]["tls"]` to each request of a uvicorn HTTP protocol."""

    app: object

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        tls = tls_extension(transport.get_extra_info("ssl_object"))
        inner = self.app

        async def app_with_tls(scope, receive, send):
            scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, receive, send)  # type: ignore[operator]

        self.app = app_with_tls


class TLSInfoH11Protocol(_TLSInfoMixin, H11Protocol):
    """uvicorn's pure-Python h11 protocol with the TLS extension."""


try:  # httptools (C parser) roughly doubles requests/s per core; h11 when it is missing
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TLSInfoHttpToolsProtocol(_TLSInfoMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol with the TLS extension."""

    TLSInfoProtocol: type = TLSInfoHttpToolsProtocol
except ImportError:  # pragma: no cover - depends on the installed extras
    TLSInfoProtocol = TLSInfoH11Protocol
