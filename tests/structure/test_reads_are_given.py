"""The core decides which remembered statuses stand in for a vendor read (reconciler/read_input.py):
an adapter reads what its `ReadInput` tells it to and never applies the freshness rule, nor sees the
state's records (`ReadContext`), itself. Nor does the provider layer they share (`BaseProvider`): a
read is given a `ReadInput` and nothing else."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from reconciler.providers import registry
from reconciler.providers.base import BaseProvider, Provider
from reconciler.read_input import ReadInput

PROVIDERS = Path(__file__).resolve().parents[2] / "reconciler" / "providers"
# the core's own: the freshness rule, and the state's records it is applied to
CORE_ONLY = {"stands_in", "ReadContext", "read_inputs", "read_input"}


def _uses(path: Path) -> set[str]:
    """Names of CORE_ONLY a module imports or reaches as an attribute."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found |= {alias.name for alias in node.names} & CORE_ONLY
        elif isinstance(node, ast.Attribute) and node.attr in CORE_ONLY:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in CORE_ONLY:
            found.add(node.id)
    return found


@pytest.mark.parametrize("vendor", sorted(registry()))
def test_no_vendor_package_decides_which_remembered_statuses_stand_in(vendor: str) -> None:
    modules = sorted((PROVIDERS / vendor).rglob("*.py"))
    assert modules
    hits = {p.relative_to(PROVIDERS).as_posix(): sorted(_uses(p)) for p in modules if _uses(p)}
    assert not hits, f"the core decides stand-ins (reconciler/read_input.py); a vendor package may not: {hits}"


def test_the_shared_provider_layer_decides_no_stand_ins_either() -> None:
    """base.py and the other shared modules of reconciler/providers/ take a ReadInput as given."""
    hits = {p.name: sorted(_uses(p)) for p in sorted(PROVIDERS.glob("*.py")) if _uses(p)}
    assert not hits, f"the core decides stand-ins (reconciler/read_input.py), not the provider layer: {hits}"


@pytest.mark.parametrize("cls", [Provider, BaseProvider, *(registry()[v] for v in sorted(registry()))],
                         ids=lambda c: c.__name__)
def test_a_read_is_given_a_read_input_only(cls: type) -> None:
    assert typing.get_type_hints(cls.read)["given"] is ReadInput


def test_the_scan_finds_what_it_looks_for() -> None:
    """Not vacuous: the core module that decides is found by the same scan."""
    assert _uses(PROVIDERS.parent / "read_input.py") >= {"stands_in", "ReadContext"}


# what the core's merge decides of a read of "none" (reconciler/settle_window.py): an adapter reports the
# fact (`LiveSnapshot.absent`) and never fills these itself
MERGE_ONLY = {"settling", "absent_seen"}


@pytest.mark.parametrize("vendor", sorted(registry()))
def test_no_vendor_package_judges_a_read_of_none(vendor: str) -> None:
    hits = sorted(f"{p.relative_to(PROVIDERS).as_posix()}:{node.lineno}"
                  for p in sorted((PROVIDERS / vendor).rglob("*.py"))
                  for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                  if isinstance(node, ast.Attribute) and node.attr in MERGE_ONLY)
    assert not hits, f"the settle window is the core's merge (reconciler/settle_window.py), not a vendor's: {hits}"
