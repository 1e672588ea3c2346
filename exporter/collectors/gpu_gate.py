"""The GPU collector's registry entry: pynvml (about 30 ms of import and 2 MB resident) and
the GPU modules load only when the `gpu:` setting can use them.

`off` loads nothing; `auto` first checks that the NVML library itself loads (the one file
pynvml would open) and, when it does not, logs the same single info line the collector
would and runs no GPU collector; `on` (and `auto` with the library) hands over to
`exporter.collectors.gpu.build`, which owns every other failure case.
"""

from __future__ import annotations

import ctypes
import logging

from exporter.config import Config
from exporter.runtime import Collector

log = logging.getLogger("exporter.collectors.gpu")

NVML_LIBRARY = "libnvidia-ml.so.1"  # what pynvml loads on Linux


def nvml_library_error() -> str | None:
    """None when the NVML library loads, else why not."""
    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError as exc:
        return f"cannot load {NVML_LIBRARY}: {exc}"
    return None


def build(config: Config) -> list[Collector]:
    if config.gpu == "off":
        return []
    if config.gpu == "auto":
        error = nvml_library_error()
        if error is not None:
            log.info("gpu: auto and NVML is not available (%s): GPU metrics are off", error)
            return []
    from exporter.collectors import gpu

    return gpu.build(config)
