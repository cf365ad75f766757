"""Manifest sequences -> Sequence: per-vendor required and refused keys (VendorSpec.sequences), group, members."""

from __future__ import annotations

from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.manifest_refs import check_provider, declared_once, loc_of
from reconciler.model import Address, Blueprint, Contact, Membership, Project, Sequence
from reconciler.providers import vendors
from reconciler.sequence_members import resolve_members


def sequence_fields(ptype: str) -> tuple[set[str], set[str]]:
    """(required, refused) sequence keys of a vendor: its target is required; a key only other vendors
    accept is refused on its sequences."""
    rules = vendors.spec(ptype).sequences
    assert rules is not None
    others = {key for other in vendors.specs() if other.sequences for key in other.sequences.keys}
    return {rules.target_key}, others - set(rules.keys)


def build_sequences(docs: list[Any], project: Project, contacts: dict[str, Contact],
                     blueprints: dict[str, Blueprint], problems: list[Problem]) -> list[Sequence]:
    out: list[Sequence] = []
    for node in declared_once(docs, "sequences", "sequence", problems):
        loc = loc_of(node)
        ptype = check_provider(node, project, [s.name for s in vendors.specs() if s.sequences], "sequences",
                               problems)
        if ptype is None:
            continue
        rules = vendors.spec(ptype).sequences
        assert rules is not None
        required, forbidden = sequence_fields(ptype)
        bad = False
        for key in sorted(required - set(node)):
            problems.append(problem(node, f"a {ptype} sequence needs {key}:"))
            bad = True
        for key in sorted(forbidden & set(node)):
            problems.append(problem(node, f"{key}: is not a {ptype} sequence setting", key))
            bad = True
        if bad:
            continue
        usable, sourcing = rules.group(node, blueprints, problems)
        if not usable:
            continue
        members = resolve_members(node, ptype, contacts, problems)
        if members is None:
            continue
        out.append(Sequence(
            id=node["id"],
            provider=node["provider"],
            provider_type=ptype,
            target=node[rules.target_key],
            sourcing=sourcing,
            name=node.get("name"),
            loud=rules.loud(node),
            reenroll=node.get("reenroll", "never"),
            on_removal=node.get("on_removal", "report"),
            daily_cap=node.get("daily_cap"),
            metadata=tuple(sorted((node.get("metadata") or {}).items())),
            members=tuple(Membership(Address(node["provider"], "membership", node["id"], key), node["id"], cid,
                                     cand)
                          for key, (cid, cand) in sorted(members.items())),
            settings=tuple((key, node[key]) for key in rules.settings if key in node),
            loc=loc,
        ))
    return out
