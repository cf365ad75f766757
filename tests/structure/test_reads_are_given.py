"""The core decides which remembered statuses stand in for a vendor read (reconciler/read_input.py):
an adapter reads what its `ReadInput` tells it to and never applies the freshness rule, nor sees the
state's records (`ReadContext`), itself. Nor does the provider layer they share (`BaseProvider`): a
read is given a `ReadInput` and nothing else."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from reconciler.providers import registry, vendors
from reconciler.providers.base import BaseProvider, Provider
from reconciler.read_input import ReadInput
from reconciler.state_record import StateRecord

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


# What the core's merge compares with a vendor's read of an asynchronous-start vendor (reconciler/
# settle_window.py, judge_shown): the fields of the state's records. Its adapter reports what the vendor
# said (`shown`, `absent`, `unknown`) and reads of a record it is given only whose person to read
# (`contact`) and, where the core or the vendor leaves it so, the remembered enrollment (`membership()`).
RECORD_FIELDS = {f.name for f in dataclasses.fields(StateRecord)} - {"contact"}
GIVEN_RECORDS = {"to_read", "standing", "remembered", "people"}


def _record_reads(path: Path) -> list[str]:
    """`name.field` reads of StateRecord fields on names bound to the records a read is given (assigned
    from, or looping over, `given.to_read` / `standing` / `remembered(...)`), or annotated StateRecord."""
    hits = []
    for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(func, ast.FunctionDef):
            continue
        bound = {a.arg for a in func.args.args + func.args.kwonlyargs
                 if a.annotation is not None and "StateRecord" in ast.unparse(a.annotation)}
        for node in ast.walk(func):
            source, targets = None, []
            if isinstance(node, ast.Assign):
                source, targets = node.value, node.targets
            elif isinstance(node, (ast.For, ast.comprehension)):
                source, targets = node.iter, [node.target]
            if source is not None and (any(isinstance(n, ast.Attribute) and n.attr in GIVEN_RECORDS
                                           for n in ast.walk(source))
                                       or any(isinstance(n, ast.Name) and n.id in bound for n in ast.walk(source))):
                bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        hits += [f"{path.name}:{n.lineno}: {n.value.id}.{n.attr}" for n in ast.walk(func)
                 if isinstance(n, ast.Attribute) and n.attr in RECORD_FIELDS
                 and isinstance(n.value, ast.Name) and n.value.id in bound]
    return sorted(set(hits))


ASYNC = sorted(s.name for s in vendors.specs() if s.async_starts is not None)


@pytest.mark.parametrize("vendor", ASYNC)
def test_an_asynchronous_start_vendor_reads_no_state_record_field_to_judge_its_answer(vendor: str) -> None:
    hits = [h for p in sorted((PROVIDERS / vendor).rglob("*.py")) for h in _record_reads(p)]
    assert not hits, f"whether a read is about a recorded start is the core's merge (settle_window.judge_shown): {hits}"


def test_the_record_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """Not vacuous: the judgement as the Kalent read made it before (commit 7fc0aeb) is found."""
    old = tmp_path / "_read.py"
    old.write_text('''
def _member(kp, address, given):
    cached = given.to_read.get(address)
    attempt = cached.attempt if cached is not None else 0
    if cached is not None and dispatching(cached, sequence, kp.settle_seconds, now):
        return cached.membership(address)

def _settling(entry: StateRecord, settle_seconds: float, now) -> bool:
    return age_seconds(entry.since, now) < settle_seconds

def _read_orphans(given):
    for address, entry in sorted(given.to_read.items()):
        print(entry.contact, entry.membership(address), entry.status)
''', encoding="utf-8")
    assert {hit.split(": ")[1] for hit in _record_reads(old)} == {"cached.attempt", "entry.since", "entry.status"}
