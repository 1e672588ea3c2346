"""TLS over memory BIOs for `connection`, and a server context that follows its files.

`ssl.SSLObject` with two `MemoryBIO`s keeps only what is in flight: an idle TLS connection
holds OpenSSL's own state (CPython sets SSL_MODE_RELEASE_BUFFERS, so its record buffers are
freed between reads) and no per-connection Python read buffer.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

READ_CHUNK = 16384  # one TLS record at most


class TlsClosed(Exception):
    """The peer sent close_notify."""


class TlsSession:
    """One server-side TLS connection: feed ciphertext in, get plaintext and ciphertext out.

    `feed` raises `ssl.SSLError` when the peer's handshake or records are bad (the caller
    closes the connection), and `TlsClosed` on the peer's close_notify.
    """

    __slots__ = ("_in", "_out", "obj", "established")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self._in, self._out, server_side=True)
        self.established = False

    def feed(self, data: bytes) -> bytes:
        """Ciphertext from the socket -> plaintext (b"" while the handshake is under way)."""
        self._in.write(data)
        if not self.established:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.established = True
        chunks = []
        while True:
            try:
                chunk = self.obj.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                raise TlsClosed from None
            if not chunk:  # SSLObject.read returns b"" once close_notify has arrived
                raise TlsClosed
            chunks.append(chunk)
        return b"".join(chunks)

    def encrypt(self, data: bytes) -> bytes:
        self.obj.write(data)
        return self._out.read()

    def close_notify(self) -> bytes:
        """Our close_notify, to send before closing (best effort)."""
        try:
            self.obj.unwrap()
        except (ssl.SSLError, ValueError):
            pass
        return self.pending()

    def pending(self) -> bytes:
        """Ciphertext OpenSSL wants sent (handshake messages, session tickets, alerts)."""
        return self._out.read() if self._out.pending else b""


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
