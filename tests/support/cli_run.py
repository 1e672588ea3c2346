"""`exporter` CLI runs in process (fast enough for property tests) with captured output."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from unittest import mock

from exporter import cli


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_cli(*argv: str, env: dict[str, str] | None = None) -> CliResult:
    """`exporter <argv>` in this process, with `env` as its whole EXPORTER_* environment."""
    out, err = io.StringIO(), io.StringIO()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    with (
        mock.patch.dict(os.environ, {**clean, **(env or {})}, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())
