"""Fresh virtualenvs with the package installed as a user would: `python -m venv`, then pip
with this host's own configuration (its index, find-links, CA bundle, constraints: what
`make venv` uses), from a wheel built out of the working tree.

Used by tests/packaging (what a bare and a full install hold, what they do) and by
bench/footprint.py (their sizes). pip's cache makes a second build of the same venv quick;
nothing is installed with --no-deps, so a venv holds exactly what pip resolves.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_PYTHON = sys.executable  # the interpreter `make venv` used (python3 -m venv)


def _pip_env() -> dict[str, str]:
    # PYTHONPATH would put the working tree ahead of the installed package
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """A command with the clean environment; raises with its output when it fails."""
    out = subprocess.run(args, capture_output=True, text=True, env=_pip_env(), **kwargs)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}")
    return out


@functools.cache
def project_wheel() -> Path:
    """The package as a wheel built from the working tree (once per process)."""
    out = Path(tempfile.mkdtemp(prefix="exporter-wheel-"))
    src = out / "src"  # a copy: setuptools writes build/ and *.egg-info into the source tree
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__"),
    )
    run([BASE_PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)])
    shutil.rmtree(src)
    (wheel,) = out.glob("exporter-*.whl")
    return wheel


def make_venv(path: Path, requirement: str) -> Path:
    """`python -m venv path`, then `pip install requirement`; the venv's python. The
    requirement may name the project wheel as `{wheel}` (e.g. "exporter[server] @ {wheel}")."""
    run([BASE_PYTHON, "-m", "venv", str(path)])
    python = path / "bin" / "python"
    req = requirement.format(wheel=project_wheel().as_uri())
    run([str(python), "-m", "pip", "install", "-q", req])
    return python


def distributions(python: Path) -> dict[str, str]:
    """Installed distributions of a venv: normalised name -> version."""
    code = (
        "import importlib.metadata as m, re\n"
        "for d in m.distributions():\n"
        "    print(re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(), d.version)\n"
    )
    out = run([str(python), "-c", code], cwd=tempfile.gettempdir())
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def tree_bytes(path: Path) -> int:
    """Bytes of the files under path (as `du -b` counts them, links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total
