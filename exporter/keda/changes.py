"""Wake-ups for `StreamIsActive`: one broadcast per collector write to the snapshot.

Streams wait on `Changes.wait(timeout)`, which returns when a collector replaced or updated
its series (a queue depth may have crossed the threshold) or after `timeout` (a value may
have gone stale without any write). Writes by the metrics APIs themselves (their fallback
flags) and by the runtime's self-metrics are ignored: they follow a collector write or a
read, and waking on them would make reads wake readers.
"""

from __future__ import annotations

import asyncio

from exporter.snapshot import Snapshot

IGNORED_OWNERS = ("metrics_api/", "runtime/", "keda/", "build")


class Changes:
    """A snapshot watcher that many coroutines can wait on; attach in the serving loop."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        snapshot.watchers.append(self._on_write)

    def _on_write(self, owner: str) -> None:
        if owner.startswith(IGNORED_OWNERS):
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake()
        else:  # a write from another thread
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        # Every waiter holds the current event; a fresh one starts the next round.
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        """Return on the next collector write, or after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass

    def close(self) -> None:
        if self._on_write in self.snapshot.watchers:
            self.snapshot.watchers.remove(self._on_write)
