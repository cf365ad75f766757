"""GaryClubProvider.read: one list pass per resource, at the maximum page size (200).

Request budget of a read (N contacts, E enrollments per sequence, D deals per pipeline):
  1 sequences list (when the provider has sequences) + 1 pipelines list (when it has pipelines)
  + ceil(N/200) contact pages, only when some needed contact has no cached remote id
  + ceil(E/200) per sequence, skipped when every member (and cached orphan) is known finished
  + ceil(D/200) per pipeline.
Which remembered statuses stand in is the core's decision (reconciler/read_input.py): for a vendor
that lists every enrollment, only final ones (`given.standing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import PlanError
from reconciler.model import Address, DesiredState, Pipeline, Sequence
from reconciler.providers.garyclub import _mapping
from reconciler.providers.garyclub._client import Catalog, Known
from reconciler.read_input import ReadInput
from reconciler.snapshot import FINISHED, LiveSnapshot
from reconciler.timeutil import Clock, utcnow


@dataclass(frozen=True)
class GarySeen:
    """What a read saw that the writes need (LiveSnapshot.seen), as plain data: what its lookups found
    (`Known`: sequence and pipeline rows, the contact ids it matched or the state remembered, who is
    held ambiguously, the rosters it listed and when) and the ownership tag. Apply hands it back; the
    writes work on it through their own provider's client."""

    known: Known
    ownership_tag: str


def read(name: str, catalog: Catalog, clock: Clock, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
    """Everything `desired` and the state touch for this provider, through a catalog of this read's own;
    what the writes need goes into `snap.seen` (GarySeen), not onto the provider."""
    before = sum(catalog.client.counts.values())
    snap = LiveSnapshot()
    seqs = [s for s in desired.sequences if s.provider == name]
    pipes = [p for p in desired.pipelines if p.provider == name]
    cached_contact = {a.key: e.contact for a, e in given.people.items() if e.contact}
    # Matches remembered by an earlier run (provider.contact[contacts][id]), trusted while the contact
    # keeps one identifier it was matched on: a member waiting for its enrollment is not matched again.
    cached_contact.update({a.key: e.remote_id for a, e in given.people.items()
                           if a.kind == "contact" and e.remote_id and a.key in desired.contacts
                           and set(e.person or ()) & set(desired.contacts[a.key].identifiers)})

    seq_ids = {s.id: resolve_sequence(name, catalog, s, snap) for s in seqs}
    pipe_rows = {p.id: resolve_pipeline(name, catalog, p, snap) for p in pipes}

    to_list = [s for s in seqs if not _all_finished(s, given)]
    for seq in seqs:
        if seq not in to_list:
            _from_cache(seq, given, snap)

    needed = {m.contact_id for s in to_list for m in s.members if m.contact_id}
    needed |= {c.contact_id for p in pipes for c in p.cards}
    needed = {cid for cid in needed if cid in desired.contacts}
    if any(cid not in cached_contact and cid not in catalog.contact_ids for cid in needed):
        _match_contacts(name, catalog, desired, sorted(needed), catalog.contacts())
    for cid in needed:
        if cid not in catalog.contact_ids and cid not in catalog.ambiguous and cached_contact.get(cid):
            catalog.contact_ids[cid] = cached_contact[cid]
    for seq in seqs:
        for member in seq.members:
            if member.contact_id in catalog.ambiguous:
                snap.conflicts[member.address] = catalog.ambiguous[member.contact_id]
    for pipe in pipes:
        for card in pipe.cards:
            if card.contact_id in catalog.ambiguous:
                snap.conflicts[card.address] = catalog.ambiguous[card.contact_id]
    for cid, remote in catalog.contact_ids.items():
        if cid in desired.contacts:
            snap.people[Address(name, "contact", "contacts", cid)] = remote

    # remote contact id -> address key: manifest contacts first, then what the cache remembers
    # (contacts removed from the manifest keep their old address, so orphans are reported).
    to_key = {remote: key for key, remote in sorted(cached_contact.items()) if key not in catalog.contact_ids}
    to_key.update({remote: cid for cid, remote in catalog.contact_ids.items()})

    now = utcnow(clock)
    for seq in to_list:
        roster = catalog.roster(seq_ids[seq.id], max_age=0.0)
        wanted = {m.address for m in seq.members} | {a for a in given.enrollments() if a.group == seq.id}
        for remote, history in roster.items():
            key = to_key.get(remote)
            addr = Address(name, "membership", seq.id, key) if key else None
            if addr is not None and addr in wanted:
                snap.memberships[addr] = _mapping.to_membership(addr, history, now)
                if not _mapping.to_status(history[-1]).known:
                    snap.warnings.append(f"{addr}: unknown Gary Club enrollment status {history[-1].get('status')!r}; "
                                         "treated as active (never re-enrolled)")

    for pipe in pipes:
        _read_deals(name, catalog, pipe, pipe_rows[pipe.id], to_key, given, snap)

    snap.seen[name] = GarySeen(catalog.known, given.ownership_tag)
    snap.requests[name] = sum(catalog.client.counts.values()) - before
    return snap


def _match_contacts(name: str, catalog: Catalog, desired: DesiredState, needed: list[str],
                    index: _mapping.ContactIndex) -> None:
    """Match manifest contacts to Gary contacts on every email and phone. One contact matching two Gary
    contacts, or one Gary contact matching two manifest contacts, is ambiguous: the planner says
    `manual` and nothing is sent to that person (Gary could hold their paused enrollment on either)."""
    owners: dict[str, list[str]] = {}
    for cid in needed:
        found = index.matches(desired.contacts[cid])
        if len(found) > 1:
            catalog.ambiguous[cid] = (f"contact {cid!r} matches {len(found)} Gary Club contacts "
                                      f"({', '.join(sorted(found))}) on its emails and phones")
        elif found:
            owners.setdefault(next(iter(found)), []).append(cid)
    for remote, cids in owners.items():
        if len(cids) > 1:
            for cid in cids:
                catalog.ambiguous[cid] = f"Gary Club contact {remote} matches {' and '.join(repr(c) for c in cids)}"
        else:
            catalog.contact_ids[cids[0]] = remote


def resolve_sequence(name: str, catalog: Catalog, seq: Sequence, snap: LiveSnapshot) -> str:
    """The Gary sequence id for `seq.target` (a name or an id); PlanError naming the available ones."""
    rows = catalog.sequences()
    row = _mapping.pick_by_name_or_id(rows, seq.target)
    if row is None:
        available = ", ".join(repr(r.get("name")) for r in rows) or "none"
        raise PlanError(f"{seq.loc}: provider {name!r} has no Gary Club sequence {seq.target!r} "
                        f"(available: {available})")
    if "steps" in row:  # the volume forecast of the contact policy
        snap.cadences[(name, seq.id)] = _mapping.cadence(row)
    status = str(row.get("status") or "active")
    if status != "active":
        snap.warnings.append(f"{name}: sequence {row.get('name')!r} ({seq.id}) is {status}, not active; "
                             "enrollments into it are refused (nothing is sent) until it is activated in Gary Club")
    return str(row["id"])


def resolve_pipeline(name: str, catalog: Catalog, pipe: Pipeline, snap: LiveSnapshot) -> Mapping[str, Any]:
    """The Gary pipeline row for `pipe.pipeline` (name or id); records its stage names."""
    row = catalog.pipeline(pipe)
    snap.stages[(name, pipe.id)] = tuple(n for _, n in _mapping.stages_of(row))
    return row


def _all_finished(seq: Sequence, given: ReadInput) -> bool:
    """Every member and remembered orphan is known finished, so the list need not be read (docs/state.md:
    finished statuses are not read again). A list answers for every member at once, so the core lets
    only final statuses stand in (`given.standing`), and --refresh lists anyway."""
    if given.refresh or seq.reenroll != "never":
        return False
    addrs = {m.address for m in seq.members} | {a for a in given.enrollments() if a.group == seq.id}
    return all(a in given.standing and given.standing[a].status == FINISHED for a in addrs)


def _from_cache(seq: Sequence, given: ReadInput, snap: LiveSnapshot) -> None:
    """A sequence not listed (every enrollment in it stands in as finished): as the state remembers it."""
    for addr, entry in given.standing.items():
        if addr.group == seq.id:
            snap.memberships[addr] = entry.membership(addr)


def _read_deals(name: str, catalog: Catalog, pipe: Pipeline, row: Mapping[str, Any], to_key: Mapping[str, str],
                given: ReadInput, snap: LiveSnapshot) -> None:
    """Deals of one pipeline as cards: managed ones, and any deal where a declared or adopted card is."""
    names = dict(_mapping.stages_of(row))
    declared = {c.address for c in pipe.cards}
    unmanaged = 0
    for deal in catalog.deals(str(row["id"])):
        contact = _mapping.deal_contact(deal)
        key = to_key.get(contact) if contact else None
        addr = Address(name, "card", pipe.id, key or f"remote:{contact or deal.get('id')}")
        card = _mapping.to_card(addr, deal, names, given.ownership_tag)
        if not card.managed:
            unmanaged += 1
            if addr not in declared and addr not in given.adopted:
                continue
        have = snap.cards.get(addr)
        if have is None or (card.managed and not have.managed):
            snap.cards[addr] = card
        elif card.managed and have.managed:
            snap.warnings.append(f"{addr}: more than one deal carries the {given.ownership_tag!r} tag "
                                 f"({have.remote_id}, {card.remote_id}); managing {have.remote_id}")
    snap.unmanaged_cards[(name, pipe.id)] = unmanaged

