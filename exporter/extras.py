"""Which optional parts of the distribution are installed.

A bare `pip install exporter` is the service library (`exporter.instrument`: prometheus-client
and starlette). The exporter service and every other command need the `server` extra; the CLI
asks here first, so a bare install answers `exporter serve` with one line naming the install
command (exit 2) instead of a traceback from the first missing import.
"""

from __future__ import annotations

import importlib.util

SERVER_EXTRA = "server"
INSTALL_SERVER = f"pip install 'exporter[{SERVER_EXTRA}]'"
# One importable module per distribution of the `server` extra (pyproject.toml); the test of
# this list against the extra is tests/packaging/test_extras.py.
SERVER_MODULES: dict[str, str] = {
    "asyncpg": "asyncpg",
    "redis": "redis",
    "hiredis": "hiredis",
    "pydantic": "pydantic",
    "PyYAML": "yaml",
    "httptools": "httptools",
    "httpx": "httpx",
    "bcrypt": "bcrypt",
    "cryptography": "cryptography",
    "nvidia-ml-py": "pynvml",
    "grpcio": "grpc",
    "protobuf": "google.protobuf",
    "kubernetes": "kubernetes",
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a dotted name whose parent package is missing (google.protobuf)
        return False


def missing_server_modules() -> list[str]:
    """The `server` extra's distributions that cannot be imported here (by module lookup
    only: nothing is imported, so the check costs no start-up time)."""
    return [dist for dist, module in SERVER_MODULES.items() if not _importable(module)]


def server_missing_line(command: str) -> str | None:
    """None when the server extra is installed, else the one line to print for `command`."""
    missing = missing_server_modules()
    if not missing:
        return None
    return (
        f"exporter: `exporter {command}` needs the exporter service, which is not installed "
        f"(missing {', '.join(missing)}): {INSTALL_SERVER}"
    )
