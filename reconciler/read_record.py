"""What apply records of its read: state rows for what it saw, journal outcomes for what it settled.

Only apply writes to the state. `plan` and `drift` read the same way and write nothing, so a plan
beside a running apply cannot overwrite a fresher row or settle an intent the apply still has in
flight, and a plan run leaves the state byte-identical. The cost: a read that only a plan made is
not remembered (the next apply reads it again), and a member's first absent read (asynchronous starts) is
recorded by the first apply that sees it absent, not by a plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.live_merge import Identity, membership_identity
from reconciler.model import Address, DesiredState
from reconciler.snapshot import UNSEEN, LiveMembership, LiveSnapshot
from reconciler.state import Store, utcnow
from reconciler.state_record import StateRecord

__all__ = ["record_outcomes", "record_read", "remember_membership", "write_record"]


def write_record(store: Store, address: Address, record: StateRecord, *,
                 unless_updated_after: str | None = None) -> None:
    """One state row from a typed record (its stored form: see StateRecord.stored_extra)."""
    store.remember(address, record.remote_id, status=record.status, vendor_status=record.vendor_status,
                   attempt=record.attempt, observed_at=record.observed_at, extra=record.stored_extra(),
                   unless_updated_after=unless_updated_after)


def remember_membership(store: Store, lm: LiveMembership, *, unless_updated_after: str | None = None,
                        identity: Identity | None = None) -> None:
    """observed_at None (taken from the state, not read now) keeps the time the vendor was last read,
    so runs closer together than status_refresh_minutes cannot keep a remembered status fresh for ever."""
    record = StateRecord.of_membership(lm, person=identity.person if identity else None,
                                       target=identity.target if identity else None)
    write_record(store, lm.address, record, unless_updated_after=unless_updated_after)


def record_outcomes(store: Store, live: LiveSnapshot) -> None:
    """Journal outcomes of the in-doubt intents the read settled (each recorded once)."""
    while live.resolved:
        seq, result = live.resolved.popitem()
        store.outcome(seq, result, detail={"resolved_at": utcnow(store.clock)})


def record_read(store: Store, live: LiveSnapshot, *, read_started: str | None = None,
                desired: DesiredState | None = None, known: Mapping[Address, StateRecord] | None = None) -> None:
    """Write what apply's read found into the state (remote ids, statuses, first absent reads) and the
    outcomes of the intents it settled, so the next run reads less and settles nothing twice.

    `read_started`: a row written after this read began is newer than what the read saw and is left
    alone (writing an old `failed` back over a fresh retry would plan that retry again)."""
    now = utcnow(store.clock)
    known = known or {}
    identities = {m.address: membership_identity(seq, m, desired.contacts) for seq, m in desired.memberships()} \
        if desired is not None else {}
    with store.batch():
        record_outcomes(store, live)
        for lm in live.memberships.values():
            identity, was = identities.get(lm.address), known.get(lm.address)  # an undeclared row keeps who it was
            person = identity.person if identity else was.person if was else None
            target = identity.target if identity else was.target if was else None
            record = StateRecord.of_membership(lm, person=person, target=target)
            if was is not None and was.remote_id == lm.remote_id:  # what the vendor said when read live
                record = replace(record, opt_out=record.opt_out or was.opt_out,  # (contact policy) outlives
                                 ended_at=record.ended_at or was.ended_at)       # reads from the state
            write_record(store, lm.address, record, unless_updated_after=read_started)
        for addr, remote in live.people.items():
            contact = desired.contacts.get(addr.key) if desired is not None else None
            write_record(store, addr, StateRecord(remote, status="active", observed_at=now,
                                                  person=tuple(contact.identifiers) if contact else ()),
                         unless_updated_after=read_started)
        for addr, (contact_id, since) in live.absent_seen.items():
            write_record(store, addr, StateRecord(None, status=UNSEEN, vendor_status="none", observed_at=now,
                                                  contact=contact_id, since=since), unless_updated_after=read_started)
        for addr, lc in live.cards.items():
            card = StateRecord(lc.remote_id, status="archived" if lc.archived else "active", vendor_status=lc.stage,
                               observed_at=now, contact=lc.contact_remote_id)
            write_record(store, addr, card, unless_updated_after=read_started)
        for addr, lb in live.blueprints.items():
            write_record(store, addr, StateRecord(lb.remote_id, status="active", observed_at=now),
                         unless_updated_after=read_started)
