"""Throwaway X.509 material for TLS tests: CAs, serving and client certificates.

Built with `exporter.certs.issue`, the same builder as the exporter's self-signed certificate.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from exporter.certs import issue


@dataclass
class Pair:
    cert_path: Path
    key_path: Path
    cert_pem: str


class CA:
    def __init__(self, name: str, directory: Path) -> None:
        self.dir = directory
        self.name = name
        self.issued = issue(name, ca=True, ca_key_usage=True)
        self.cert = self.issued.cert
        self.pem = self.issued.cert_pem().decode()
        self.path = directory / f"{name}-ca.crt"
        self.path.write_text(self.pem)

    def issue(self, cn: str, *, client: bool, hosts: tuple[str, ...] = (), org: str = "") -> Pair:
        usage = "client" if client else "server"
        leaf = issue(cn, issuer=self.issued, hosts=hosts, organization=org, usage=usage)
        safe = cn.replace(":", "_").replace("/", "_")
        cert_path, key_path = self.dir / f"{safe}.crt", self.dir / f"{safe}.key"
        leaf.write(cert_path, key_path)
        return Pair(cert_path, key_path, leaf.cert_pem().decode())


def client_context(server_ca: Path | str, client: Pair | None = None) -> ssl.SSLContext:
    """A client context trusting `server_ca`, presenting `client` when given."""
    ctx = ssl.create_default_context(cafile=str(server_ca))
    if client is not None:
        ctx.load_cert_chain(str(client.cert_path), str(client.key_path))
    return ctx
