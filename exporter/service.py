"""`exporter serve`: wires config -> collectors -> snapshot -> listeners, in one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import platform
import signal
from collections.abc import Awaitable, Callable

from exporter import __version__, catalog, collectors
from exporter.config import Config
from exporter.http_app import create_app
from exporter.metrics_api.listener import https_listeners
from exporter.runtime import Collector, Runtime
from exporter.serving import bind, make_server
from exporter.snapshot import Sample, Snapshot
from exporter.status import StatusApp, StatusBoard

log = logging.getLogger(__name__)


def build_collectors(config: Config) -> list[Collector]:
    """Every collector the config asks for: each registered factory's, in registry order."""
    return [collector for build in collectors.REGISTRY for collector in build(config)]


async def serve(config: Config, started: Callable[[], Awaitable[None]] | None = None) -> None:
    snapshot = Snapshot()
    snapshot.update(
        "build",
        [
            Sample(
                catalog.EXPORTER_BUILD_INFO,
                {
                    "version": __version__,
                    "python": platform.python_version(),
                    "environment": config.environment,
                },
                1,
            )
        ],
    )
    runtime = Runtime(snapshot, build_collectors(config))
    board = StatusBoard(config, snapshot, runtime)
    listeners = [
        (make_server(create_app(snapshot, runtime, StatusApp(board))), bind(config.listen.http))
    ]
    listeners += https_listeners(config, snapshot, runtime)  # the Kubernetes metrics APIs

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runtime.start()
    board.start()
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in listeners]
    log.info(
        "exporter %s serving on http://%s with %d collectors (environment %s)",
        __version__,
        config.listen.http,
        len(runtime.collectors),
        config.environment,
    )
    if started is not None:
        await started()
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        log.info("shutting down")
    for server, _sock in listeners:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    await board.stop()
    await runtime.stop()
    for _server, sock in listeners:
        sock.close()
