"""What drift reports as contact policy violations it finds live, whatever the manifests say:
a suppressed person (listed, or opted out in some vendor) with an active enrollment somewhere, and
a person of an exclusive group in two active enrollments of it at once (started by hand, by another
tool, or before the policy was declared). Paused enrollments count as active: they may resume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.contact_policy.enforce import _opted_out, _suppressed
from reconciler.contact_policy.people import ONGOING, People
from reconciler.model import Address, DesiredState
from reconciler.snapshot import LiveSnapshot
from reconciler.state_record import StateRecord


def violations(desired: DesiredState, live: LiveSnapshot,
               ledger: Mapping[Address, StateRecord]) -> list[dict[str, Any]]:
    """Drift's `policy` items, sorted: {kind, person, address, addresses, problem}."""
    policy = desired.project.policy
    if not policy.declared:
        return []
    people = People(desired, live, ledger)
    out: list[dict[str, Any]] = []
    for person in sorted(people.enrollments):
        enrollments = people.of(person)
        ongoing = [e for e in enrollments if e.status in ONGOING]
        if not ongoing:
            continue
        for e in ongoing:
            found = _suppressed(policy, people.identifiers(person), e.address)
            if found is None and policy.vendor_opt_outs:
                found = _opted_out([x for x in enrollments if x.address != e.address], e.address)
            if found is not None:
                why = found.reason.removeprefix("suppressed: ")
                out.append({"kind": "suppressed_active", "person": person, "address": str(e.address),
                            "addresses": [str(e.address)],
                            "problem": f"suppressed ({why}) but {e.status} in {e.where}"})
        for group in policy.exclusive:
            inside = [e for e in ongoing if group.holds(e.address.group)]
            if len(inside) > 1:
                where = ", ".join(e.where for e in inside)
                out.append({"kind": "exclusive_overlap", "person": person, "address": str(inside[-1].address),
                            "addresses": [str(e.address) for e in inside],
                            "problem": f"exclusive ({group.name}): {len(inside)} active enrollments at once ({where})"})
    return sorted(out, key=lambda i: (i["address"], i["kind"]))
