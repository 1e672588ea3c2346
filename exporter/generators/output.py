"""The one YAML writer and the one file writer every generator uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, an embedded config) as literal blocks; no YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def yaml_text(data: Any, width: int) -> str:
    """`data` as block YAML in insertion order, lines folded at `width`."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=width)


def write_files(
    out_dir: str | Path, files: dict[str, str], stale_header: str | None = None
) -> list[str]:
    """Write name -> text into out_dir (created if needed); return the paths written.

    A file whose text is unchanged is left untouched, so its mtime says when it last changed.
    With `stale_header`, a `*.yaml` file in out_dir that starts with it but is no longer
    generated (a removed class's HPA) is deleted; files without the header are never touched.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if stale_header is not None:
        for old in sorted(out.glob("*.yaml")):
            if old.name not in files and old.read_text().startswith(stale_header):
                old.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)  # a chart's files/, templates/
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(str(path))
    return written
