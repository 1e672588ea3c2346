"""EventCounter against a straightforward reading of the SSE spec, over every chunking."""

from __future__ import annotations

import random
import re

import pytest

from exporter.instrument.sse import EventCounter
from tests.support.instrument_apps import TRICKY_CHUNKS, TRICKY_EVENTS


def reference_count(stream: bytes) -> int:
    """Events an EventSource would dispatch (HTML standard, 9.2.6), the slow obvious way."""
    count = 0
    data: list[bytes] | None = None
    for line in re.split(rb"\r\n|\r|\n", stream)[:-1]:  # the last piece is unterminated
        if not line:
            if data is not None:
                count += 1
            data = None
        elif line.startswith(b":"):
            continue
        else:
            name = line.split(b":", 1)[0]
            if name == b"data":
                data = (data or []) + [line]
    return count


def count_in_chunks(chunks: list[bytes]) -> int:
    counter = EventCounter()
    return sum(counter.feed(c) for c in chunks)


STREAMS = [
    b"data: a\n\n",
    b"data: a\r\n\r\n",
    b"data: a\r\ndata: b\r\nevent: c\r\n\r\n",  # a CRLF split must not end the event
    b"data: a\r\rdata: b\r\r",
    b"event: x\ndata: 1\ndata: 2\n\n: comment\n\nid: 3\n\n",
    b"data\n\ndata:\n\ndatax: no\n\n",
    b"\n\n\ndata: late\n\n\n\n",
    b"data: unterminated",
    b"retry: 10\r\n\r\ndata: ok\r\n\r\n: ping\r\n\r\n",
    b"data: a\n\rdata: b\r\n\n",  # mixed endings, blank lines of different kinds
    b"".join(TRICKY_CHUNKS),
]


@pytest.mark.parametrize("stream", STREAMS)
def test_whole_stream_matches_reference(stream: bytes) -> None:
    assert count_in_chunks([stream]) == reference_count(stream)


@pytest.mark.parametrize("stream", STREAMS)
def test_every_two_and_three_way_split_matches_reference(stream: bytes) -> None:
    expected = reference_count(stream)
    n = len(stream)
    for i in range(n + 1):
        assert count_in_chunks([stream[:i], stream[i:]]) == expected, (stream, i)
    step = max(1, n // 25)  # all pairs for short streams, a grid for long ones
    for i in range(0, n + 1, step):
        for j in range(i, n + 1, step):
            chunks = [stream[:i], stream[i:j], stream[j:]]
            assert count_in_chunks(chunks) == expected, (stream, i, j)


def test_byte_by_byte_and_random_chunkings() -> None:
    rng = random.Random(7)
    for stream in STREAMS:
        expected = reference_count(stream)
        assert count_in_chunks([bytes([b]) for b in stream]) == expected
        for _ in range(50):
            cuts = sorted(rng.sample(range(len(stream) + 1), k=min(5, len(stream))))
            chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
            assert count_in_chunks(chunks) == expected


def test_tricky_chunks_are_what_the_server_tests_expect() -> None:
    assert reference_count(b"".join(TRICKY_CHUNKS)) == TRICKY_EVENTS
    assert count_in_chunks(TRICKY_CHUNKS) == TRICKY_EVENTS


def test_counts_per_chunk_when_the_event_completes() -> None:
    counter = EventCounter()
    assert counter.feed(b"data: first half") == 0
    assert counter.feed(b" and the rest\n") == 0
    assert counter.feed(b"\n") == 1
    assert counter.feed(b"data: a\n\ndata: b\n\ndata: c\n\n") == 3
    assert counter.feed(b": ping\n\n") == 0
