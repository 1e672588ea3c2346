"""TLS over memory BIOs for `connection` (where certificates come from: `exporter.tls`).

`ssl.SSLObject` with two `MemoryBIO`s keeps only what is in flight: an idle TLS connection
holds OpenSSL's own state (CPython sets SSL_MODE_RELEASE_BUFFERS, so its record buffers are
freed between reads) and no per-connection Python read buffer.
"""

from __future__ import annotations

import ssl

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
