"""Handing memory back: glibc's malloc_trim, and settling the heap once start-up is done."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable


def _load_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None elsewhere (musl, macOS)."""
    try:
        # the process's own symbols (libc's among them): ctypes.util.find_library would run
        # `ldconfig -p` in a subprocess at every start
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


_TRIM = _load_trim()


def malloc_trim() -> None:
    """Return free heap pages to the kernel. glibc keeps memory freed after a burst in its
    (fragmented) heap otherwise, so RSS would stay at the burst's peak."""
    if _TRIM is not None:
        _TRIM()


def release_after_burst() -> None:
    """After a burst of connections: collect the two young generations (a burst's TLS
    objects and buffers sit in reference cycles there; with GC_THRESHOLDS' large young
    generation an idle process would not collect them for minutes), then trim the heap.
    The old generation is left alone: a full collection over a big snapshot costs tens of ms."""
    gc.collect(1)
    malloc_trim()


# Young-generation size and the two older generations' periods. A collection cycle makes
# tens of thousands of short-lived samples (10,000 queues: 30,000); with CPython's default
# (700, 10, 10) they survive into the old generation while the cycle is written, and full
# collections ran twice per interval, 20-90 ms each, holding every listener. Collected in
# the young generation instead, a full collection is minutes apart.
GC_THRESHOLDS = (20_000, 50, 100)


def settle_after_start() -> None:
    """Once everything is imported and built: collect start-up garbage, move the survivors
    (modules, config, pydantic schemas) out of the collector's way so full collections stay
    short (tail latency), and trim the heap."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    malloc_trim()
