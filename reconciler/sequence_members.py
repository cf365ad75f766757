"""A sequence's members: listed contacts, selected contacts and people enrolled by a vendor's own id
(VendorSpec.person_ids), keyed by address."""

from __future__ import annotations

from typing import Any

from reconciler.contact_select import select_contacts
from reconciler.contact_syntax import CANDIDATE_ID
from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.model import Contact
from reconciler.providers import vendors


def resolve_members(node: dict[str, Any], ptype: str, contacts: dict[str, Contact],
                     problems: list[Problem]) -> dict[str, tuple[str | None, str | None]] | None:
    """address key -> (contact id, candidate id); None when a reference is broken."""
    chosen: dict[str, Contact] = {}
    ok = True
    members = node.get("members") or []
    for i, cid in enumerate(members):
        if cid not in contacts:
            problems.append(problem(members, f"unknown contact {cid!r} in members of sequence {node['id']!r}", i))
            ok = False
        else:
            chosen[cid] = contacts[cid]
    if node.get("members_where"):
        for contact in select_contacts(contacts, node["members_where"]):
            chosen[contact.id] = contact
    out: dict[str, tuple[str | None, str | None]] = {}
    by_candidate: dict[str, str] = {}
    people = vendors.spec(ptype).person_ids
    for cid, contact in chosen.items():
        vendor_id = contact.person_id(people.contact_key) if people else None
        if people:  # this vendor enrolls people by its own id: a contact needs one
            if not vendor_id:
                key = "members" if cid in members else "members_where"
                problems.append(problem(node, f"contact {cid!r} has no {people.contact_key}, so it cannot join "
                                              f"{ptype} sequence {node['id']!r}", key))
                ok = False
                continue
            by_candidate[vendor_id] = cid
        out[cid] = (cid, vendor_id)
    if people is None or people.direct_key is None:
        return out if ok else None
    candidates = node.get(people.direct_key) or []
    for i, cand in enumerate(candidates):
        if not CANDIDATE_ID.match(cand):  # it would be the key of an address, which must read back
            problems.append(problem(candidates, f"{people.noun} {cand!r} holds a space, bracket or control character",
                                    i))
            ok = False
        elif cand not in by_candidate:  # a candidate also reached through a contact is one member
            out[cand] = (None, cand)
    return out if ok else None
