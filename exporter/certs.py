"""The one X.509 certificate builder: EC P-256 keys, SHA-256 signatures (cryptography).

The metrics API's self-signed serving certificate and the tests' throwaway PKI (CAs, serving
and client certificates, a fake Kubernetes API server's certificate) are all built here.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Not-before lies a little in the past so that a peer whose clock runs behind accepts it.
BACKDATE = datetime.timedelta(minutes=5)

_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)
_USAGE = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write both PEM files; the key file is created owner-only before the key is in it."""
        cert_path.write_bytes(self.cert_pem())
        key_path.touch(mode=0o600)
        key_path.write_bytes(self.key_pem())


def subject_alt_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    """IP SANs for addresses, DNS SANs for everything else."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(sans)


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    hosts: Sequence[str] = (),
    organization: str = "",
    ca: bool = False,
    ca_key_usage: bool = False,
    usage: Literal["client", "server"] | None = None,
    valid_days: int = 1,
) -> Issued:
    """A new key and a certificate for it, signed by `issuer` (self-signed when None).

    `ca` adds BasicConstraints CA:TRUE, `ca_key_usage` the certificate-signing KeyUsage,
    `usage` one ExtendedKeyUsage, `hosts` the SubjectAlternativeName.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attrs)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=valid_days))
    )
    if hosts:
        builder = builder.add_extension(subject_alt_names(hosts), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    if ca_key_usage:
        builder = builder.add_extension(_CA_KEY_USAGE, critical=True)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_USAGE[usage]]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)
