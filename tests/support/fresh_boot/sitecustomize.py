"""`pytest --fresh-boot-clock`: every Python started with this directory on PYTHONPATH
reads `time.monotonic()` as on a machine booted a moment ago (it starts near 0 in each
process), so no test or product code may rely on the clock being large."""

import time

_real = time.monotonic
_offset = _real() - 0.001


def _fresh_monotonic() -> float:
    return _real() - _offset


time.monotonic = _fresh_monotonic
