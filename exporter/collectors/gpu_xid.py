"""XID errors, counted by code, from NVML events.

NVML queues events on an event set that devices are registered with; the GPU collector
drains it at the start of each cycle on its own worker thread (`nvmlEventSetWait` with a
0 ms timeout returns NVML_ERROR_TIMEOUT once the queue is empty), so no second thread ever
calls into NVML. Counts live as long as the process and are keyed by GPU UUID, so a GPU that
changes index keeps its count. A GPU whose board cannot report XID events (NOT_SUPPORTED)
has no counter; the others still count. After a driver reload the event set is recreated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pynvml

log = logging.getLogger("exporter.collectors.gpu")

# Bounds one cycle's drain: an XID storm must not hold the worker thread.
MAX_EVENTS_PER_CYCLE = 10_000


class XidEvents:
    def __init__(self) -> None:
        self._set: Any = None
        self._registered: set[str] = set()
        self.counts: dict[str, dict[int, int]] = {}  # uuid -> xid code -> count

    def register(self, uuid: str, handle: Any) -> None:
        """Register one GPU for XID events (once per NVML session); raises NVMLError."""
        if uuid in self._registered:
            return
        if self._set is None:
            self._set = pynvml.nvmlEventSetCreate()
        supported = pynvml.nvmlDeviceGetSupportedEventTypes(handle)
        if not supported & pynvml.nvmlEventTypeXidCriticalError:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        pynvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError, self._set)
        self._registered.add(uuid)
        self.counts.setdefault(uuid, {})

    def drain(self, uuid_of: Callable[[Any], str]) -> None:
        """Count every queued XID event; raises NVMLError when the set itself fails."""
        if self._set is None:
            return
        for _ in range(MAX_EVENTS_PER_CYCLE):
            try:
                event = pynvml.nvmlEventSetWait(self._set, 0)
            except pynvml.NVMLError_Timeout:
                return
            if not event.eventType & pynvml.nvmlEventTypeXidCriticalError:
                continue
            uuid = uuid_of(event.device)
            by_code = self.counts.setdefault(uuid, {})
            by_code[int(event.eventData)] = by_code.get(int(event.eventData), 0) + 1
        log.warning("gpu: more than %d XID events in one cycle", MAX_EVENTS_PER_CYCLE)

    def registered(self, uuid: str) -> bool:
        return uuid in self._registered

    def reset(self) -> None:
        """NVML is shutting down: the set dies with it; the counts stay."""
        if self._set is not None:
            try:
                pynvml.nvmlEventSetFree(self._set)
            except pynvml.NVMLError as exc:
                log.debug("nvmlEventSetFree failed: %s", exc)
        self._set = None
        self._registered.clear()
