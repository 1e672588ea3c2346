"""Real queue collectors, their runtime and the metrics API app, in one test's event loop.

Collections run when the test says (`collect()`), so a test controls exactly what the
snapshot holds when it asks the API; requests go through the real ASGI app in process.
"""

from __future__ import annotations

import httpx

from exporter.collectors import queues
from exporter.config import Config
from exporter.metrics_api.app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot

PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"
SELECT = {"labelSelector": "component_class=cpu"}


class World:
    def __init__(self, config: Config, ready: bool = True) -> None:
        self.snapshot = Snapshot()
        self.runtime = Runtime(self.snapshot, queues.build(config))
        self.is_ready = ready
        self.app = create_app(config, self.snapshot, lambda: self.is_ready, None)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://api"
        )

    async def collect(self) -> None:
        for collector in self.runtime.collectors:
            await self.runtime.run_once(collector)

    async def collect_get(self, path: str = PATH) -> tuple[int, dict]:
        """One collection, then the API's answer."""
        await self.collect()
        return await self.get(path)

    async def get(self, path: str = PATH) -> tuple[int, dict]:
        resp = await self.http.get(path, params=SELECT)
        return resp.status_code, resp.json()

    async def __aenter__(self) -> World:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()
        await self.runtime.stop()
