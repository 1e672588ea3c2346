"""Front-proxy authentication, as an aggregated API server does it.

kube-apiserver's aggregation layer calls us over TLS with its front-proxy client certificate
(signed by the `requestheader-client-ca-file` CA) and says who the original caller is in
`X-Remote-User` / `X-Remote-Group`. Those headers are trusted only after:

1. the TLS layer verified the client certificate against the front-proxy CA (the listener's
   SSLContext uses CERT_OPTIONAL with only that CA loaded, so a certificate from any other CA
   fails the handshake before a byte of HTTP is read: CPython's ssl module has no verify
   callback that would let us defer that to a 401 as Go servers do);
2. its common name is in `requestheader_allowed_names` (an empty list allows any name the
   CA signed, as in Kubernetes).

No certificate -> 401 Unauthorized; a disallowed name -> 403 Forbidden; a verified, allowed
certificate without a user header -> 401.

With no CA configured (local use) every request is served as `system:anonymous`; the
listener logs a loud warning at start and the production environment refuses that config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .status import ApiError

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()
    proxy_name: str | None = None  # the front-proxy certificate's CN


@dataclass(frozen=True)
class FrontProxyAuth:
    """What `kube-system/extension-apiserver-authentication` (or the config) tells us."""

    client_ca_pem: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    _lower_user: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _lower_group: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_lower_user", tuple(h.lower().encode() for h in self.username_headers)
        )
        object.__setattr__(
            self, "_lower_group", tuple(h.lower().encode() for h in self.group_headers)
        )

    def authenticate(self, tls: Mapping | None, headers: Sequence[tuple[bytes, bytes]]) -> Identity:
        names = tuple(tls.get("client_cert_common_names") or ()) if tls else ()
        if not tls or not tls.get("client_cert_chain"):
            raise ApiError(401, "Unauthorized: a front-proxy client certificate is required")
        cn = names[0] if names else ""
        if self.allowed_names and cn not in self.allowed_names:
            raise ApiError(
                403,
                f"Forbidden: client certificate common name {cn!r} is not in "
                f"requestheader_allowed_names",
            )
        user = ""
        groups: list[str] = []
        for name, value in headers:
            if not user and name in self._lower_user:
                user = value.decode("latin-1").strip()
            elif name in self._lower_group:
                groups.append(value.decode("latin-1").strip())
        if not user:
            raise ApiError(
                401, f"Unauthorized: no user in {'/'.join(self.username_headers)} header"
            )
        return Identity(user, tuple(g for g in groups if g), proxy_name=cn)


def anonymous() -> Identity:
    return Identity(ANONYMOUS, (UNAUTHENTICATED_GROUP,))
