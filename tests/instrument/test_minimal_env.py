"""`exporter.instrument` runs where only prometheus-client and starlette are installed.

Services add the instrumentation to their own images; it must not drag in the exporter's
server dependencies. A subprocess without `site` gets a path holding only the `exporter`
package and the distributions `pip install prometheus-client starlette` brings (found from
the installed metadata), instruments a Starlette app and drives one request through it.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import exporter

ALLOWED = ("prometheus-client", "starlette")
SERVER_ONLY = (
    "asyncpg",
    "redis",
    "kubernetes",
    "pynvml",
    "opentelemetry",
    "pydantic",
    "yaml",
    "fastapi",
    "httpx",
)

CHILD = f"""
import asyncio, sys
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter.instrument import instrument


async def hello(request):
    return PlainTextResponse("hi")


registry = CollectorRegistry()
app = instrument(Starlette(routes=[Route("/items/{{id}}", hello)]), "cpu", registry=registry)


async def call(path):
    scope = {{"type": "http", "asgi": {{"version": "3.0"}}, "http_version": "1.1",
              "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
              "root_path": "", "query_string": b"", "headers": [],
              "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}}
    sent = []

    async def receive():
        return {{"type": "http.request", "body": b"", "more_body": False}}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


labels = {{"component_class": "cpu", "method": "GET", "route": "/items/{{id}}", "status": "200"}}
before = registry.get_sample_value("http_requests_total", labels) or 0.0
assert asyncio.run(call("/items/7")) == 200
after = registry.get_sample_value("http_requests_total", labels)
print("requests", before, after)
try:
    instrument(Starlette(), "cpu", registry=CollectorRegistry(), tracing=True)
except ImportError as exc:
    print("tracing:", exc)
loaded = sorted(m for m in {SERVER_ONLY!r} if m in sys.modules)
print("server-only modules:", loaded)
"""


def _distribution_closure(names: tuple[str, ...]) -> set[str]:
    """The installed distributions `pip install <names>` (no extras) would bring."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        dist = metadata.distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _top_level_paths(dist_name: str) -> set[Path]:
    dist = metadata.distribution(dist_name)
    out = set()
    for file in dist.files or []:
        top = file.parts[0]
        if top.endswith((".dist-info", ".data")) or top in ("..", "__pycache__"):
            continue
        out.add(Path(dist.locate_file(top)))
    return out


def test_instrument_needs_only_prometheus_client_and_starlette(tmp_path):
    dists = _distribution_closure(ALLOWED)
    assert not dists & {"asyncpg", "redis", "kubernetes", "pydantic", "opentelemetry-api"}
    for dist in dists:
        for path in _top_level_paths(dist):
            (tmp_path / path.name).symlink_to(path)
    (tmp_path / "exporter").symlink_to(Path(exporter.__file__).parent)

    # -S: no site-packages; -I: no env vars, no user site, no script dir on the path.
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + CHILD
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "requests 0.0 1.0" in result.stdout, result.stdout
    assert "server-only modules: []" in result.stdout, result.stdout
    # Tracing without the extra: an error that says what to install, not a bare traceback.
    assert (
        "tracing: instrument(tracing=True) needs OpenTelemetry: pip install 'exporter[instrument]'"
        in result.stdout
    )


def test_the_minimal_path_really_lacks_the_server_dependencies(tmp_path):
    # The check above proves something only if the child cannot import these at all.
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport asyncpg"
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "No module named 'asyncpg'" in result.stderr
