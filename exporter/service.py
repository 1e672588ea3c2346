"""`exporter serve`: wires config -> collectors -> snapshot -> listeners, in one asyncio loop."""

from __future__ import annotations

import asyncio
import importlib
import logging
import platform
import signal
import socket
from collections.abc import Awaitable, Callable

from exporter import __version__, catalog, collectors
from exporter.config import Config
from exporter.http.memory import settle_after_start
from exporter.http.selfmetrics import SelfMetrics
from exporter.http.server import HttpServer
from exporter.http.webconfig import BasicAuth, WebConfigFile, load_web_config
from exporter.http_app import create_app
from exporter.metrics_api.listener import https_listeners
from exporter.metrics_api.providers import RoutingProvider, build_provider
from exporter.runtime import Collector, Runtime
from exporter.serving import ListenerSpec, bind, declare, reserve
from exporter.snapshot import Sample, Snapshot
from exporter.status import StatusApp, StatusBoard
from exporter.tls import SelfSigned, own_pair, reloading_context

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
    provider = metrics_provider(config, snapshot, runtime)  # one per process, shared
    board = StatusBoard(config, snapshot, runtime, provider if config.metrics_api.enabled else None)
    self_metrics = SelfMetrics(snapshot, [])
    web = load_web_config(config.listen.web_config_file) if config.listen.web_config_file else None
    scaler_up = asyncio.Event()  # /readyz waits for the KEDA scaler too (started below)
    status_app = StatusApp(board)
    app = create_app(
        snapshot, runtime, self_metrics.refresh_listeners, status_app, scaler_up.is_set
    )
    web_file = WebConfigFile(config.listen.web_config_file, web) if web else None
    if web_file is not None:  # users may appear in the file later: it is re-read on change
        app = BasicAuth(app, web_file.users)
    specs = {spec.name: spec for spec in declare(config, web.tls if web else None)}
    http = _http_server(app, specs["http"])
    listeners = [(http, bind(specs["http"].address))]
    self_signed = SelfSigned(config.namespace)  # shared by the metrics API and the KEDA scaler
    if "https" in specs:  # the Kubernetes metrics APIs
        listeners += https_listeners(
            config, snapshot, runtime, self_signed, provider, spec=specs["https"]
        )
    # every port is ours before any listener serves: a clash (gRPC's too) exits 1 at once
    grpc_port = reserve(specs["grpc"].address) if "grpc" in specs else None
    self_metrics.servers = [server for server, _ in listeners]
    self_metrics.refresh()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP: %s", reload(web_file)))

    runtime.start()
    board.start()
    loop.call_later(1.0, settle_after_start)  # after the listeners are up, not before
    settled = asyncio.create_task(_settle_when_ready(runtime))
    self_task = asyncio.create_task(self_metrics.run())
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in listeners]
    # KEDA external scaler (gRPC, listen.grpc): started once the HTTP listeners serve (its TLS
    # may wait for the self-signed certificate); a start-up failure stops the exporter.
    scaler_task = asyncio.create_task(
        _start_scaler(
            config, snapshot, runtime, self_signed, provider, grpc_port, specs.get("grpc")
        )
    )
    scaler_task.add_done_callback(lambda t: _scaler_done(t, scaler_up, stop))
    log.info(
        "exporter %s serving on %s://%s with %d collectors (environment %s)",
        __version__,
        "https" if http.tls else "http",
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
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    settled.cancel()
    await board.stop()
    self_task.cancel()
    scaler_task.cancel()
    scaler_result = (await asyncio.gather(scaler_task, return_exceptions=True))[0]
    if scaler_result is not None and not isinstance(scaler_result, BaseException):
        await scaler_result.stop()
    await runtime.stop()
    if provider is not None:
        await provider.aclose()
    for _server, sock in listeners:
        sock.close()
    # a listener that failed (e.g. its certificate could not be made) fails `serve`
    for result in [*results, scaler_result]:
        if isinstance(result, Exception):
            raise result


async def _settle_when_ready(runtime: Runtime) -> None:
    """Settle again once the first collection filled the snapshot: its series live as long
    as the process, and a full collection scanning 10,000 queues' worth of them would hold
    the loop for hundreds of milliseconds."""
    await runtime.ready.wait()
    await asyncio.sleep(1.0)  # the status board's first sync, too
    settle_after_start()


def _http_server(app, spec: ListenerSpec) -> HttpServer:
    """The plain-HTTP listener (TLS only from the web-config file, whose files it proved)."""
    files = own_pair(spec.tls) if spec.tls is not None else None
    context = reloading_context(spec.tls, *files) if spec.tls is not None and files else None
    return HttpServer(app, spec.name, spec.limits, context)


def _scaler_done(task: asyncio.Task, up: asyncio.Event, stop: asyncio.Event) -> None:
    """Started (or none configured): ready as far as the scaler goes; failed: stop serving."""
    if task.cancelled():
        return
    if task.exception() is None:
        up.set()
    else:
        stop.set()


def reload(web_file: WebConfigFile | None) -> str:
    """What SIGHUP does (never fatal): re-read the web-config file now; say what reloads by
    itself and what needs a restart."""
    done = web_file.reload() if web_file is not None else "no listen.web_config_file"
    return (
        f"{done}; TLS certificates and secret files are re-read when they change; "
        "other settings need a restart"
    )


def metrics_provider(
    config: Config, snapshot: Snapshot, runtime: Runtime
) -> RoutingProvider | None:
    """The process's one metrics provider, for the metrics API, the status board and the
    KEDA scaler (None when none of them is on). Identical PromQL queries are sent at most
    once per queue interval (what autoscaler-bound values are fresh to), whichever asks."""
    if not (config.metrics_api.enabled or config.listen.grpc):
        return None
    cache_seconds = config.collection.queues.interval_seconds
    return build_provider(config, snapshot, runtime.ready.is_set, cache_seconds=cache_seconds)


async def _start_scaler(
    config: Config,
    snapshot: Snapshot,
    runtime: Runtime,
    self_signed: SelfSigned,
    provider: RoutingProvider | None = None,
    reserved: socket.socket | None = None,
    spec: ListenerSpec | None = None,
):
    """The KEDA scaler's listener, or None when `listen.grpc` is off. grpc (~17 MB resident,
    ~40 ms to import) is imported only when it is on, in a worker thread, so the listeners
    already serving answer meanwhile; its port was `reserved` before they served."""
    if not config.listen.grpc:
        return None
    try:
        keda_listener = await asyncio.to_thread(importlib.import_module, "exporter.keda.listener")
        return await keda_listener.start(
            config, snapshot, runtime, self_signed, provider, reserved=reserved, spec=spec
        )
    finally:
        if reserved is not None:
            reserved.close()
