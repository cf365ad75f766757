"""Read one YAML file into located data: every mapping and list knows its file:line:col.

A loader that refuses YAML bombs (too many aliases, aliases that expand the file past a bound,
recursive aliases, absurd nesting), non-string keys and non-finite numbers; every failure to read a
file becomes a located `Problem`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem

MAX_ALIASES = 100  # more alias uses than this in one file is treated as a YAML bomb
MAX_DEPTH = 64
MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add to a file once expanded; past it, a YAML bomb


class Located:
    """Mixin: where a mapping or list came from, and where each of its keys/items sits."""

    file: str
    line: int
    col: int
    positions: dict[Any, tuple[int, int]]


class LocDict(dict, Located):
    """A YAML mapping that remembers its own position and each key's position."""


class LocList(list, Located):
    """A YAML sequence that remembers its own position and each item's position."""


class _BombError(yaml.YAMLError):
    pass


class _LocLoader(yaml.SafeLoader):
    """SafeLoader that builds LocDict/LocList and refuses alias bombs and absurd nesting."""

    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _BombError(f"more than {MAX_ALIASES} YAML aliases at line {mark.line + 1} "
                                 "(refusing a possible YAML bomb)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _BombError(f"nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        check_expansion(node)  # before constructing: what is built, and walked later, is bounded
        return self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocDict:
        self.flatten_mapping(node)
        result = LocDict()
        result.file, result.line, result.col = self.filename, node.start_mark.line + 1, node.start_mark.column + 1
        result.positions = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain name, not a list or mapping (a '?' complex key)",
                    key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key_node.value!r} must be a string (quote it)", key_node.start_mark)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's constructors raise plain ValueError/TypeError for some values (`2026-11-31`,
        `!!int x`): made located errors here, at the innermost node that failed."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value if isinstance(node, yaml.ScalarNode) else 'this value'!r} as "
                f"{node.tag.rsplit(':', 1)[-1]}: {exc}", node.start_mark
            ) from None

    def construct_checked_timestamp(self, node: yaml.ScalarNode) -> Any:
        """PyYAML assumes an explicit `!!timestamp` matches its pattern (AttributeError otherwise):
        checked first, so `!!timestamp x` is a located error."""
        if self.timestamp_regexp.match(str(self.construct_scalar(node))) is None:
            raise ValueError("not a YAML timestamp")
        return self.construct_yaml_timestamp(node)

    def construct_finite_float(self, node: yaml.ScalarNode) -> float:
        """.nan and .inf are refused: a NaN safety limit compares false with everything (it would
        never refuse), an infinite timeout never fires."""
        value = self.construct_yaml_float(node)
        if math.isnan(value) or math.isinf(value):
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a finite number",
                                                    node.start_mark)
        return value

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocList:
        result = LocList(self.construct_object(child, deep=True) for child in node.value)
        result.file, result.line, result.col = self.filename, node.start_mark.line + 1, node.start_mark.column + 1
        result.positions = {i: (c.start_mark.line + 1, c.start_mark.column + 1) for i, c in enumerate(node.value)}
        return result


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it by more than MAX_ALIAS_EXPANSION nodes, nest it
    deeper than MAX_DEPTH once expanded, or make it recursive. Each shared node is visited once
    (sizes memoised), without recursion, so the check itself costs the file's size, not the bomb's."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded depth)
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            sizes = [measured[id(c)] for c in _children(node)]
            size = 1 + sum(s for s, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            line = node.start_mark.line + 1
            if depth > MAX_DEPTH:
                raise _BombError(f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded (line {line})")
            if size - len(measured) > MAX_ALIAS_EXPANSION:
                raise _BombError(f"YAML aliases expand this file by more than {MAX_ALIAS_EXPANSION:,} values "
                                 f"(line {line}; refusing a possible YAML bomb)")
            measured[id(node)] = (size, depth)
            on_path.discard(id(node))
            stack.pop()
            continue
        if id(child) in measured:
            continue
        if id(child) in on_path:
            raise _BombError(f"a YAML alias refers to a node that contains it (line {child.start_mark.line + 1})")
        on_path.add(id(child))
        stack.append((child, iter(_children(child))))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_LocLoader.add_constructor("tag:yaml.org,2002:map", _LocLoader.construct_mapping)
_LocLoader.add_constructor("tag:yaml.org,2002:float", _LocLoader.construct_finite_float)
_LocLoader.add_constructor("tag:yaml.org,2002:timestamp", _LocLoader.construct_checked_timestamp)
_LocLoader.add_constructor("tag:yaml.org,2002:seq", _LocLoader.construct_sequence)


def where(node: Any, key: Any = None) -> tuple[str, int, int]:
    """file, line, col of `node` (or of `node[key]`'s key) for error messages."""
    if isinstance(node, Located):
        if key is not None and key in node.positions:
            line, col = node.positions[key]
            return node.file, line, col
        return node.file, node.line, node.col
    return "?", 0, 0


def problem(node: Any, message: str, key: Any = None) -> Problem:
    """A Problem located at `node` (or its key)."""
    file, line, col = where(node, key)
    return Problem(file, line, col, message)


def load_yaml_file(path: Path, display: str, raw: bytes | None = None) -> tuple[Any, list[Problem]]:
    """Parse one YAML file (its bytes `raw`, or read from `path`); every failure is a located Problem."""
    if raw is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return None, [Problem(display, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(display, line, 1, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]
    if not text.strip() or all(ln.strip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        return None, [Problem(display, 1, 1, "file is empty")]
    try:
        loader = _LocLoader(text, display)  # the reader refuses control characters here, before parsing
    except yaml.reader.ReaderError as exc:
        at = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        return None, [Problem(display, line, col, f"YAML error: character U+{exc.character:04X} is not allowed "
                              "in YAML (a control character)" if isinstance(exc.character, int)
                              else f"YAML error: {exc}")]
    try:
        data = loader.get_single_data()
    except _BombError as exc:
        return None, [Problem(display, 1, 1, str(exc))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = exc.problem or str(exc)
        if exc.context:
            msg = f"{exc.context}: {msg}" if exc.problem else exc.context
        return None, [Problem(display, line, col, f"YAML syntax error: {msg}")]
    except yaml.YAMLError as exc:
        return None, [Problem(display, 1, 1, f"YAML error: {exc}")]
    except RecursionError:
        return None, [Problem(display, 1, 1, "YAML nesting too deep")]
    finally:
        loader.dispose()
    if data is None:
        return None, [Problem(display, 1, 1, "file is empty")]
    return data, []
