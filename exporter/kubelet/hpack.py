"""HPACK (RFC 7541) header-block decoding, for the one gRPC client that runs without grpcio
(exporter.kubelet.h2unary). Decoding only: the requests it sends are literals.

Failure: `HpackError` for a block that does not decode (bad index, truncated integer or
string, bad Huffman padding, a table size above the limit we announced).
"""

from __future__ import annotations

STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
    (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
    (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
    (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
    ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
    ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
    ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
    ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
    ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
)  # fmt: skip

# RFC 7541 Appendix B is a canonical Huffman code: each symbol's code length (symbols 0-255,
# then EOS) fixes every code. Bytes in hex, one per symbol.
_CODE_LENGTHS = bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c060a0a0c0d06080b0a0a080b"
    "080606060505050606060606060607080f060c0a0d0607070707070707070707070707070707070707070707"
    "0807080d130d0e060f05060506050606060507070606060506070605050607070707070f0b0e0d1c14161414"
    "1616161716171717171718171818161718171717171516171617171816151416161717151716161815161717"
    "151516151716171714161616171616171a1a1413161716191a1a1a1b1b1a181913151a1b1b1a1b1815151a1a"
    "1c1b1b1b14181415161515171616191918181a171a1b1a1a1b1b1b1b1b1c1b1b1b1b1b1a1e"
)
EOS = 256


class HpackError(ValueError):
    """A header block that does not decode."""


def _decoding_table() -> dict[tuple[int, int], int]:
    """(length, code) -> symbol, from the canonical code lengths."""
    table, code, previous = {}, 0, 0
    for symbol in sorted(range(257), key=lambda s: (_CODE_LENGTHS[s], s)):
        code <<= _CODE_LENGTHS[symbol] - previous
        previous = _CODE_LENGTHS[symbol]
        table[(previous, code)] = symbol
        code += 1
    return table


_DECODE = _decoding_table()
_SHORTEST = min(_CODE_LENGTHS)


def huffman_decode(data: bytes) -> bytes:
    out = bytearray()
    code = length = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code = (code << 1) | ((byte >> shift) & 1)
            length += 1
            if length >= _SHORTEST and (symbol := _DECODE.get((length, code))) is not None:
                if symbol == EOS:
                    raise HpackError("EOS in a Huffman string")
                out.append(symbol)
                code = length = 0
            elif length > 30:
                raise HpackError("bad Huffman code")
    # what is left must be padding: fewer than 8 bits, all ones (the EOS prefix)
    if length > 7 or code != (1 << length) - 1:
        raise HpackError("bad Huffman padding")
    return bytes(out)


class Decoder:
    """One connection's decoding state: the dynamic table (RFC 7541 section 2.3)."""

    def __init__(self, max_table_size: int = 4096) -> None:
        self.max_table_size = max_table_size  # SETTINGS_HEADER_TABLE_SIZE (we announce 4096)
        self.table_size = max_table_size
        self.dynamic: list[tuple[str, str]] = []  # newest first

    def _size(self) -> int:
        return sum(len(n) + len(v) + 32 for n, v in self.dynamic)

    def _add(self, name: str, value: str) -> None:
        self.dynamic.insert(0, (name, value))
        while self.dynamic and self._size() > self.table_size:
            self.dynamic.pop()

    def _entry(self, index: int) -> tuple[str, str]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dynamic = index - len(STATIC_TABLE) - 1
        if 0 <= dynamic < len(self.dynamic):
            return self.dynamic[dynamic]
        raise HpackError(f"header index {index} out of range")

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        pos = 0
        while pos < len(block):
            byte = block[pos]
            if byte & 0x80:  # indexed field
                index, pos = _integer(block, pos, 7)
                headers.append(self._entry(index))
            elif byte & 0xC0 == 0x40:  # literal, incremental indexing
                name, value, pos = self._literal(block, pos, 6)
                self._add(name, value)
                headers.append((name, value))
            elif byte & 0xE0 == 0x20:  # dynamic table size update
                size, pos = _integer(block, pos, 5)
                if size > self.max_table_size:
                    raise HpackError(f"table size {size} above {self.max_table_size}")
                self.table_size = size
                while self.dynamic and self._size() > size:
                    self.dynamic.pop()
            else:  # literal without indexing (0000) or never indexed (0001)
                name, value, pos = self._literal(block, pos, 4)
                headers.append((name, value))
        return headers

    def _literal(self, block: bytes, pos: int, prefix: int) -> tuple[str, str, int]:
        index, pos = _integer(block, pos, prefix)
        if index:
            name = self._entry(index)[0]
        else:
            raw, pos = _string(block, pos)
            name = raw.decode("latin-1")
        raw, pos = _string(block, pos)
        return name, raw.decode("latin-1"), pos


def _integer(block: bytes, pos: int, prefix: int) -> tuple[int, int]:
    if pos >= len(block):
        raise HpackError("truncated integer")
    mask = (1 << prefix) - 1
    value = block[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        if pos >= len(block) or shift > 28:
            raise HpackError("truncated or oversized integer")
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _string(block: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(block):
        raise HpackError("truncated string")
    huffman = block[pos] & 0x80
    length, pos = _integer(block, pos, 7)
    if pos + length > len(block):
        raise HpackError("truncated string")
    raw = block[pos : pos + length]
    return (huffman_decode(raw) if huffman else raw), pos + length
