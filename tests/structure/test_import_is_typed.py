"""`campaignctl import` works from typed records: each vendor's discovery (providers/<vendor>/discover.py)
returns the neutral values of providers/discovered.py, mapped from its JSON by its `_mapping.py`, and
no importer (reconciler/importer/, providers/<vendor>/importing.py) reads a vendor's JSON keys or uses
the vendor's mapping or client to pick its JSON apart."""

from __future__ import annotations

import ast
import importlib
import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.providers import discovered, registry

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"
IMPORTERS = sorted([*(PACKAGE / "importer").glob("*.py"), *(PACKAGE / "providers").glob("*/importing.py")])
VENDOR_PRIVATE = ("_mapping", "_client", "_read")


def json_reads(source: str) -> list[str]:
    """Where `source` reads a value by a literal key (`x["id"]`, `x.get("name")`), the way vendor JSON is
    picked apart, or imports a vendor's mapping, client or read module."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            hits.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            hits.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reconciler.providers."):
            names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n.rsplit(".", 1)[-1] in VENDOR_PRIVATE for n in names):
                hits.append(f"{node.lineno}: {ast.unparse(node)}")
    return hits


@pytest.mark.parametrize("path", IMPORTERS, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_importer_reads_vendor_json(path: Path) -> None:
    hits = json_reads(path.read_text(encoding="utf-8"))
    assert not hits, (f"{path.relative_to(PACKAGE)} picks vendor JSON apart; let its discover.py return the "
                      f"records of providers/discovered.py (mapped in _mapping.py): {hits}")


def test_the_importer_scan_finds_what_it_looks_for() -> None:
    """Not vacuous: the importer code of before (raw rows) is caught on every line that reads them."""
    before = ('from reconciler.providers.garyclub import _mapping\n'
              'check(str(remote["id"]), str(remote.get("name")))\n'
              'contact = str(row.get("contact_id") or "")\n'
              'card["stage"] = stage\n')  # a dict the importer writes is not a read
    assert [hit.split(":")[0] for hit in json_reads(before)] == ["1", "2", "2", "3"]
    assert IMPORTERS and all(p.exists() for p in IMPORTERS)
    assert len([p for p in IMPORTERS if p.name == "importing.py"]) == len(registry())


def neutral(annotation: object) -> bool:
    """Whether a return annotation is made only of text, numbers, None and the records of discovered.py."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, Iterator):
        return all(neutral(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    if origin is not None:
        return False
    if annotation in (str, int, bool, type(None)):
        return True
    return inspect.isclass(annotation) and annotation.__module__ == discovered.__name__


def discoveries() -> list[type]:
    found = []
    for vendor in sorted(registry()):
        module = importlib.import_module(f"reconciler.providers.{vendor}.discover")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if cls.__module__ == module.__name__ and cls.__name__.endswith("Discovery")]
    return found


@pytest.mark.parametrize("cls", discoveries(), ids=lambda c: c.__name__)
def test_discovery_returns_neutral_records(cls: type) -> None:
    methods = {name: fn for name, fn in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}
    assert methods
    raw = {name: typing.get_type_hints(fn)["return"] for name, fn in methods.items()
           if not neutral(typing.get_type_hints(fn)["return"])}
    assert not raw, f"{cls.__name__} hands vendor JSON across the boundary: {raw}"


def test_the_return_check_refuses_raw_rows() -> None:
    """Not vacuous: what discovery returned before (vendor rows) is refused, the records are not."""
    assert len(discoveries()) == len(registry())
    for raw in (dict[str, typing.Any], typing.Any, Iterator[typing.Mapping[str, typing.Any]],
                list[dict[str, typing.Any]], dict[str, typing.Any] | None, dict[str, str]):
        assert not neutral(raw), raw
    for typed in (discovered.FoundPipeline, Iterator[discovered.FoundCard], discovered.FoundContact | None,
                  list[discovered.FoundBlueprint], str | None):
        assert neutral(typed), typed
