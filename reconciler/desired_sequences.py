"""Manifest sequences -> Sequence: per-vendor required and forbidden keys, sourcing, memberships."""

from __future__ import annotations

from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.manifest_refs import check_provider, loc_of
from reconciler.model import Address, Blueprint, Contact, Loc, Membership, Project, Sequence
from reconciler.sequence_members import resolve_members

SEQUENCE_FIELDS = {
    "clarky": ({"template"}, {"sequence", "metadata", "blueprint", "sourcing", "candidates"}),
    "garyclub": ({"sequence"}, {"template", "auto_approve", "bot_id", "name", "blueprint", "sourcing", "candidates"}),
    "kalent": ({"blueprint"}, {"template", "auto_approve", "bot_id", "name", "sequence", "metadata"}),
}


def build_sequences(docs: list[Any], project: Project, contacts: dict[str, Contact],
                     blueprints: dict[str, Blueprint], problems: list[Problem]) -> list[Sequence]:
    out: list[Sequence] = []
    seen: dict[str, Loc] = {}
    for data in docs:
        for node in data.get("sequences") or []:
            loc = loc_of(node)
            if node["id"] in seen:
                problems.append(problem(node, f"duplicate sequence id {node['id']!r} "
                                              f"(also declared at {seen[node['id']]})", "id"))
                continue
            seen[node["id"]] = loc
            ptype = check_provider(node, project, ("clarky", "garyclub", "kalent"), "sequences", problems)
            if ptype is None:
                continue
            required, forbidden = SEQUENCE_FIELDS[ptype]
            bad = False
            for key in sorted(required - set(node)):
                problems.append(problem(node, f"a {ptype} sequence needs {key}:"))
                bad = True
            for key in sorted(forbidden & set(node)):
                problems.append(problem(node, f"{key}: is not a {ptype} sequence setting", key))
                bad = True
            if bad:
                continue
            sourcing = node.get("sourcing")
            if ptype == "kalent":
                declared = blueprints.get(node["blueprint"])
                if declared:
                    if sourcing and sourcing != declared.sourcing:
                        problems.append(problem(node, f"sourcing {sourcing!r} differs from blueprint {declared.id!r}'s "
                                                          f"sourcing {declared.sourcing!r}", "sourcing"))
                    sourcing = declared.sourcing
                elif not sourcing:
                    problems.append(problem(node, "a kalent sequence needs sourcing: "
                                                  "(or a blueprint declared in this project)"))
                    continue
            members = resolve_members(node, ptype, contacts, problems)
            if members is None:
                continue
            out.append(Sequence(
                id=node["id"],
                provider=node["provider"],
                provider_type=ptype,
                target=node[{"clarky": "template", "garyclub": "sequence", "kalent": "blueprint"}[ptype]],
                sourcing=sourcing,
                bot_id=node.get("bot_id"),
                name=node.get("name"),
                auto_approve=bool(node.get("auto_approve", False)),
                reenroll=node.get("reenroll", "never"),
                on_removal=node.get("on_removal", "report"),
                daily_cap=node.get("daily_cap"),
                metadata=tuple(sorted((node.get("metadata") or {}).items())),
                members=tuple(Membership(Address(node["provider"], "membership", node["id"], key), node["id"], cid,
                                         cand)
                              for key, (cid, cand) in sorted(members.items())),
                loc=loc,
            ))
    return out
