"""Generators: dashboards, alert rules and Kubernetes manifests, all from one Config."""

from __future__ import annotations

from pathlib import Path


def write_files(out_dir: str | Path, files: dict[str, str]) -> list[str]:
    """Write name -> text into out_dir (created if needed); return the paths written.

    A file whose text is unchanged is left untouched, so its mtime says when it last changed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(str(path))
    return written
