"""The config file's bytes as plain data: UTF-8, YAML, a mapping, no duplicate keys, bounded
nesting, bounded size. Every failure is one `ConfigError` line naming the source and, for
YAML, the line and column; never a traceback (binary garbage, latin-1 bytes, 10 000 nested
brackets).

Cost is linear in the document: the checks walk each composed node once, however many
aliases point at it (an alias is a shared node, not a copy), and a document whose expanded
size (every alias counted where it is used) exceeds `MAX_NODES` is refused before anything
walks the expansion -- a 306-byte "billion laughs" expands to 9^9 nodes.
"""

from __future__ import annotations

from typing import Any

import yaml

from exporter.config.base import ConfigError

MAX_DEPTH = 32  # the schema nests 6 deep; anything far deeper is not a config
MAX_BYTES = 4 * 1024 * 1024  # the embedded default is ~3 KB; a real platform's well under 1 MB
# Nodes after alias expansion (what validation and overrides walk): a config with a thousand
# classes is ~50 000; a billion-laughs bomb is hundreds of millions.
MAX_NODES = 1_000_000


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


def _measure(root: yaml.Node) -> tuple[int, int]:
    """(nesting depth, expanded node count) of a composed document, each node visited once.

    Iterative post-order with memos keyed by node identity: an alias is the same node object
    in several places, so it is measured once and its figures reused (walking it at every use
    is exponential in the alias nesting). Stops early once depth passes MAX_DEPTH.
    """
    depth: dict[int, int] = {}
    size: dict[int, int] = {}
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while todo:
        node, children_done = todo.pop()
        key = id(node)
        if key in depth:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            depth[key], size[key] = 1, 1
            continue
        if children_done:
            on_path.discard(key)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            size[key] = 1 + sum(size[id(c)] for c in children)
            continue
        if key in on_path or len(on_path) > MAX_DEPTH:  # a recursive alias, or too deep
            return MAX_DEPTH + 1, 0
        on_path.add(key)
        todo.append((node, True))
        todo += [(c, False) for c in children if id(c) not in depth]
    return depth[id(root)], size[id(root)]


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
        deepest, nodes = _measure(node)
        if deepest > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_NODES} values through aliases "
                f"(an alias bomb?)"
            )
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
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{source}: {len(raw)} bytes, over the {MAX_BYTES}-byte limit")
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
