"""Reading a config: YAML (or the embedded default), `EXPORTER_*` overrides, validation.

Every failure is a `ConfigError` of one line, `source: field.path: reason`, with URL
passwords masked; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exporter.config.base import ConfigError
from exporter.config.model import Config
from exporter.config.queues import QUEUE_KINDS
from exporter.config.secrets import redact_url
from exporter.config.yaml_source import load_mapping, parse_yaml

ENV_PREFIX = "EXPORTER_"


def default_config_text() -> str:
    return resources.files("exporter").joinpath("default_config.yaml").read_text()


def apply_env_overrides(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """`EXPORTER_COLLECTION__INTERVAL_SECONDS=10` sets collection.interval_seconds.

    Path parts are separated by `__`; a number indexes a list (`EXPORTER_POSTGRES__0__DSN`).
    Values are read as YAML scalars, so `10` is a number and `true` a boolean.
    """
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        node: Any = data
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{key}: {'.'.join(path[:i])} has no item {part!r}")
                idx = int(part)
                if last:
                    node[idx] = _env_value(key, environ[key])
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = _env_value(key, environ[key])
                elif part not in node and path[i + 1].isdigit():  # an item of a missing list
                    raise ConfigError(
                        f"{key}: {'.'.join(path[: i + 1])} has no item {path[i + 1]!r}"
                    )
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"{key}: {'.'.join(path[:i])} is not a mapping or list")
    return data


def _env_value(key: str, text: str) -> Any:
    """An override's value read as a YAML scalar (or flow collection), one line on error."""
    return parse_yaml(text, key)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _error_line(err: Any) -> str:
    """One pydantic error as `field.path: reason`.

    Validator wrappers and the queue-kind tag of the discriminated union are left out of
    the path (the user wrote `queues[0].key`, not `queues[0].redis_list.key`).
    """
    loc, kind = [], None
    for part in err["loc"]:
        if isinstance(part, str) and part.startswith("function-"):
            continue
        if isinstance(part, str) and part in QUEUE_KINDS:
            kind = part
            continue
        loc.append(part)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing" and kind is not None:
        msg = f"a {kind} queue needs {loc[-1]}"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
        msg = f"must be one of {', '.join(QUEUE_KINDS)}"
    return f"{_format_loc(tuple(loc))}: {redact_url(msg)}"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [_error_line(err) for err in exc.errors(include_url=False, include_input=False)]
    return f"invalid config {source}: " + "; ".join(lines)


def load_config(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Config:
    """Load and validate the config file (or the embedded default) with env overrides.

    Raises ConfigError (one line naming the field) for an unreadable file, bad YAML, an
    override that names no field, or a value the schema rejects.
    """
    environ = dict(os.environ if environ is None else environ)
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = environ[ENV_PREFIX + "CONFIG"]
    if path is None:
        source, raw = "(embedded default)", default_config_text().encode()
    else:
        source = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"config file {source}: {exc.strerror}") from None
    data = apply_env_overrides(load_mapping(raw, source), environ)
    try:
        config = Config.model_validate(data, context={"environ": environ})
    except ValidationError as exc:
        raise ConfigError(one_line(format_validation_error(exc, source))) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
    return config


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) as single spaces: an error is one line."""
    return " ".join(text.split())


def redacted_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data with every secret masked (for check-config)."""
    return config.redacted()
