"""JSON Schema checks of loaded YAML: the shipped schemas, and each violation located at its key."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from reconciler.errors import Problem
from reconciler.located_yaml import Located, where

MAX_MESSAGE = 300  # characters of a schema message before the offending value is shortened


def schema_dir() -> Path:
    """Where the JSON Schemas are: inside the package in any built install (setup.py copies them
    there), else the checkout's top-level schemas/ (an editable install, where editors use them)."""
    here = Path(__file__).resolve().parent
    shipped = here / "schemas"
    return shipped if shipped.is_dir() else here.parent / "schemas"


def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with campaignctl (campaignctl or manifest)."""
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


def _node_at(doc: Any, path: Iterator[Any] | list[Any]) -> tuple[Any, Any]:
    """Walk `path` from `doc`; return (deepest located container, last key inside it)."""
    node, key = doc, None
    for part in path:
        if isinstance(node, (dict, list)):
            try:
                child = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(child, Located):
                node, key = child, None
            else:
                key = part
                break
    return node, key


def _undeclared_keys(err: jsonschema.ValidationError) -> list[Any]:
    """The keys an additionalProperties error is about: those its schema does not declare."""
    declared = err.schema.get("properties", {}) if isinstance(err.schema, Mapping) else {}
    present = err.instance if isinstance(err.instance, Mapping) else {}
    return sorted(set(present) - set(declared))


def _schema_message(err: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in err.absolute_path)
    message = err.message
    if len(message) > MAX_MESSAGE:  # jsonschema quotes the whole offending value; a list can be megabytes
        shown = repr(err.instance)
        message = message.replace(shown, shown[:60] + "…") if shown in message else message[:MAX_MESSAGE] + "…"
    if err.validator == "additionalProperties":
        extra = _undeclared_keys(err)
        return f"{path + ': ' if path else ''}unknown key {', '.join(repr(e) for e in extra)}"
    if err.validator == "required":
        return f"{path + ': ' if path else ''}{message}"
    return f"{path}: {message}" if path else message


def validate_schema(doc: Any, schema: dict[str, Any], display: str) -> list[Problem]:
    """All schema violations of `doc`, each located at the offending key."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in validator.iter_errors(doc):
        node, key = _node_at(doc, list(err.absolute_path))
        if key is None and err.absolute_path and isinstance(node, Located):
            key = err.absolute_path[-1] if err.absolute_path[-1] in node.positions else None
        if err.validator == "additionalProperties" and isinstance(node, Located):
            extra = _undeclared_keys(err)
            key = extra[0] if extra else None
        file, line, col = where(node, key) if isinstance(node, Located) else (display, 1, 1)
        problems.append(Problem(file, line, col, _schema_message(err)))
    return problems
