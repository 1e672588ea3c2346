"""The config file's bytes as plain data: UTF-8, YAML, a mapping, no duplicate keys, bounded
nesting. Every failure is one `ConfigError` line naming the source and, for YAML, the line
and column; never a traceback (binary garbage, latin-1 bytes, 10 000 nested brackets)."""

from __future__ import annotations

from typing import Any

import yaml

from exporter.config.base import ConfigError

MAX_DEPTH = 32  # the schema nests 6 deep; anything far deeper is not a config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML says keys are unique; PyYAML keeps the
    last one silently, so a second `max_replicas:` would override the first unseen)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)[:60]!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _depth(node: yaml.Node) -> int:
    """Nesting depth of a composed node, without recursion."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        current, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(current, yaml.SequenceNode):
            todo += [(child, depth + 1) for child in current.value]
        elif isinstance(current, yaml.MappingNode):
            todo += [(child, depth + 1) for pair in current.value for child in pair]
    return deepest


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: `line L, column C: problem`."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


def parse_yaml(text: str, source: str) -> Any:
    """One YAML document as plain data; ConfigError (one line) for anything else."""
    loader = None
    try:
        loader = _StrictLoader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
        if node is None:
            return None
        if _depth(node) > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {yaml_error_line(exc)}") from None
    except RecursionError:  # composing 10 000 nested brackets, before any depth check
        raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_mapping(raw: bytes, source: str) -> dict[str, Any]:
    """The file's bytes as the top-level mapping ({} for an empty file)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    data = parse_yaml(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data
