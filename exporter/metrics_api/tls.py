"""TLS for the metrics-API listener: serving certificate, client-certificate request, and the
peer certificate handed to the app through the ASGI `tls` extension.

`exporter.http` calls `tls_extension` once per connection, after the handshake, and puts the
result in `scope["extensions"]["tls"]` of every request on it (the auth reads the verified
peer certificate from there).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import sys
import tempfile
from pathlib import Path

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


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
    "from exporter.metrics_api.tls import self_signed_files\n"
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


def certificate_fingerprint(cert_path: str) -> str:
    der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())
    return hashlib.sha256(der).digest().hex(":")


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
