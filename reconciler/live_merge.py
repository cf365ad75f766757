"""The merge of what the vendors said with what the state remembers, in one place.

Providers report what they read; the state remembers what earlier applies read and did
(`StateRecord`s). The planner reads one LiveSnapshot, and the rules that combine the two live here:

- renames: an enrollment the state knows under an address the manifests no longer declare, for the
  same person in the same vendor sequence as a declared member, is that member's (`carry_renames`);
- known now absent: an enrollment the state recorded that the vendor now reads as absent is
  unproven, never absent (`known_now_absent`).

Nothing here writes: what a read found is recorded by apply alone (reconciler/read_record.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from reconciler.model import Address, Contact, DesiredState, Membership, Sequence
from reconciler.providers import vendors
from reconciler.snapshot import STATUSES, LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.vocabulary import Kind

__all__ = ["Identity", "carry_renames", "known_now_absent", "membership_identity"]

_Declared = tuple[Address, tuple[str, ...], tuple[str, ...]]  # a member, its identifiers, the vendor's ids of it


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who a membership is for and where: the person's identifiers and the vendor sequence."""

    person: tuple[str, ...]
    target: str


def membership_identity(seq: Sequence, member: Membership, contacts: Mapping[str, Contact]) -> Identity:
    """What a membership row remembers of who it is and where: the person's identifiers and the vendor
    sequence (template, sequence or blueprint), so a renamed or moved member is recognised."""
    contact = contacts.get(member.contact_id or "")
    if contact is not None:
        return Identity(tuple(contact.identifiers), seq.target)
    people = vendors.spec(seq.provider_type).person_ids
    person = (f"{people.scheme}:{member.candidate_id}",) if people and member.candidate_id else ()
    return Identity(person, seq.target)


def carry_renames(desired: DesiredState, live: LiveSnapshot, known: Mapping[Address, StateRecord]) -> None:
    """An enrollment the state knows under an address the manifests no longer declare, for the same
    person in the same vendor sequence as a declared member (a contact or sequence id renamed, a
    member moved between lists), is that member's: it is moved to the new address (`live.renames`), so
    the plan neither enrolls the person again nor asks to stop their only enrollment.

    The same person: a shared identifier, or (rows written before identifiers were recorded) the
    vendor's own id of the person (its contact id, or the person id a VendorSpec declares)."""
    names, reused = _reused_rows(desired, live, known)
    # Only rows that can be someone's old address are sorted: not the whole state (250,000 rows at 100k).
    undeclared = sorted((old, record) for old, record in known.items()
                        if old.kind == Kind.MEMBERSHIP and (old not in names or old in reused))
    if not undeclared:
        return  # nothing renamed (the usual run): the declared members' index is not built
    declared = _declared_members(desired, live)
    targets = {(seq.provider, seq.id): seq.target for seq in desired.sequences}
    taken: set[Address] = set()
    for old, record in undeclared:
        target = record.target or targets.get((old.provider, old.group))
        if target is None:
            continue
        person, vendor_id = set(record.person or ()), record.contact
        matches = [a for a, p, v in declared.get((old.provider, target), [])
                   if not person.isdisjoint(p) or vendor_id in v]
        if len(matches) != 1 or matches[0] in taken:
            continue  # no one, or not one person: left as it is (reported like any undeclared enrollment)
        new = matches[0]
        if new == old:  # the vendor's id of the person matched the address itself: the same person, kept
            kept = live.renames_from.pop(old, None)
            if kept is not None:
                live.memberships[old] = kept
            reused.discard(old)
            taken.add(old)
            continue
        was, now = live.memberships.get(old) or live.renames_from.get(old), live.memberships.get(new)
        if was is not None and now is not None and was.remote_id and now.remote_id and was.remote_id != now.remote_id:
            continue  # two different enrollments: not a rename (None: an asynchronous start not yet seen)
        if was is None and now is None:
            continue
        if now is None:
            assert was is not None
            live.memberships[new] = dataclasses.replace(was, address=new)
        live.memberships.pop(old, None)
        live.renames[new] = old
        taken.add(new)
    _hold_unclaimed(reused, live, known, desired)


def _hold_unclaimed(reused: set[Address], live: LiveSnapshot, known: Mapping[Address, StateRecord],
                    desired: DesiredState) -> None:
    """A row recorded for another person than the one its address names now, whom no declared member
    claims (the loop above carried it to none): the same person with new details (an edited email) and
    somebody new under a reused contact id look alike, and enrolling the first sends them a second
    sequence. Nothing is sent; the plan says `manual` with what to change to tell them apart."""
    if not reused:
        return
    carried = set(live.renames.values())
    for address in (a for a in known if a in reused and a not in carried):  # in the state's order
        record = known[address]
        was = ", ".join(record.person or ())
        contact = address.key
        now = desired.contacts.get(contact)
        shown = ", ".join(now.identifiers) if now is not None else "other identifiers"
        live.unproven[address] = (
            f"the state recorded this enrollment for {was}, and {contact!r} now has none of those ({shown}): "
            f"if it is the same person with new details, they are enrolled already (keep one of the recorded "
            f"emails or phones on the contact to say so); if {contact!r} is now someone else, give them a "
            "contact id of their own. Nothing is sent meanwhile")


def _reused_rows(desired: DesiredState, live: LiveSnapshot,
                 known: Mapping[Address, StateRecord]) -> tuple[set[Address], set[Address]]:
    """(every declared membership address, those whose row was recorded for another person than the one
    the address now names). Such a row (a contact id reused for someone else) is not this member's
    enrollment: the new person is not enrolled by it, so its enrollment moves to `live.renames_from`.
    A member's identifiers are computed only when its row and the live enrollment could be that case."""
    names: set[Address] = set()
    reused: set[Address] = set()
    for seq in desired.sequences:
        for member in seq.members:
            address = member.address
            names.add(address)
            record = known.get(address)
            if record is None or not record.person:
                continue
            lm = live.memberships.get(address)
            if lm is None or lm.remote_id != record.remote_id:
                continue
            person = membership_identity(seq, member, desired.contacts).person
            if not any(p in person for p in record.person):
                reused.add(address)
    if reused:
        for old in known:  # in the state's order, as always
            if old in reused:
                live.renames_from[old] = live.memberships.pop(old)
    return names, reused


def _declared_members(desired: DesiredState, live: LiveSnapshot) -> dict[tuple[str, str], list[_Declared]]:
    """Declared members by (provider, vendor sequence): address, the person's identifiers, and the
    vendor's own ids of the person (candidate id, contact id read)."""
    declared: dict[tuple[str, str], list[_Declared]] = {}
    for seq in desired.sequences:
        for member in seq.members:
            person = membership_identity(seq, member, desired.contacts).person
            vendor = (member.candidate_id,
                      live.people.get(Address(seq.provider, "contact", "contacts", member.contact_id or "")))
            declared.setdefault((seq.provider, seq.target), []).append(
                (member.address, person, tuple(v for v in vendor if v is not None)))
    return declared


def known_now_absent(known: Mapping[Address, StateRecord], live: LiveSnapshot, *, provider: str | None = None) -> None:
    """A membership the state recorded (started, finished, failed) that the vendor now reads as absent
    is unproven, never absent: enrolling it could send a second time (the vendor may have lost or
    hidden it, or the read may be wrong), so the plan says `manual` and a person decides."""
    renamed = set(live.renames.values())
    for address, record in known.items():
        if address.kind != Kind.MEMBERSHIP or record.status not in STATUSES:
            continue
        if provider is not None and address.provider != provider:  # `live` holds this provider only
            continue
        if address in live.memberships or address in live.pending or address in live.unproven:
            continue
        if address in renamed or address in live.renames or address in live.renames_from:
            continue  # kept under its new address, or recorded for someone else
        seen = f", last read {record.observed_at[:16].replace('T', ' ')} UTC" if record.observed_at else ""
        live.unproven[address] = (
            f"the state recorded this enrollment as {record.vendor_status or record.status}{seen}, but "
            f"{address.provider} now shows none: check it in the vendor; nothing is sent while the state "
            "remembers it")
