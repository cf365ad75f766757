"""Journal intents whose outcome is unknown (in doubt), settled by reading before anything is planned.

Nothing here writes to the state: a settled intent is noted in `live.resolved` (journal seq ->
outcome), and apply records those outcomes with the rest of its read (reconciler/read_record.py).
`plan` and `drift` settle nothing for good: the next apply reads again and records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.errors import OutcomeUnknown, ProviderError
from reconciler.model import Address, DesiredState
from reconciler.providers import vendors
from reconciler.providers.base import EnrollRequest, Provider
from reconciler.sent_enrollment import SentEnrollment
from reconciler.snapshot import LiveSnapshot
from reconciler.state import JournalEntry, stored_address
from reconciler.vocabulary import BLUEPRINT_OPERATIONS, CARD_OPERATIONS, Operation, Outcome

if TYPE_CHECKING:
    from reconciler.session import Session

log = logging.getLogger(__name__)


def resolve_in_doubt(session: Session, live: LiveSnapshot, *, read_only: bool = False, only: str | None = None,
                     refused: Mapping[Address, str] | None = None) -> None:
    """Settle every journal intent without a known outcome, by reading; unsettled ones become `pending`.
    `only`: just this provider's intents (with `live` its snapshot); those of providers no longer
    configured go with the first provider by name, so their warning is given once. `refused`: members
    the contact policy would not enroll now (why), whose start is never settled by a keyed replay."""
    store = session.store
    # A plan or drift beside a running apply must not read that apply's in-flight intents as settled
    # (it could read "absent" a moment before the write lands): they stay pending for the apply. An
    # apply's own read-only read (it holds the lock itself) settles what reading can settle.
    lock = store.current_lock() if read_only else None
    apply_running = lock is not None and lock["id"] != session.lock_id
    for entry in store.in_doubt():
        addr = stored_address(entry.address)
        if addr is None:
            if only is None or only == min(session.providers):  # said once, not once per provider
                live.warnings.append(f"an earlier {entry.operation} (journal entry {entry.seq}) has an unknown outcome "
                                     "and an address that cannot be read; check the vendor by hand")
            continue
        if only is not None and not _concerns(session, addr.provider, only):
            continue
        if apply_running:
            live.pending.add(addr)
            continue
        provider = session.providers.get(addr.provider)
        if provider is None:
            live.warnings.append(f"{addr}: an earlier {entry.operation} has an unknown outcome, but provider "
                                 f"{addr.provider!r} is no longer configured; check the vendor by hand")
            continue
        refusal = (refused or {}).get(addr) if _replays(provider) else None
        if (read_only or refusal) and entry.operation == Operation.ENROLL \
                and not provider.capabilities.can_list_memberships:
            # Only a keyed replay of the start can settle this, and a replay of a start that
            # never arrived IS the start: plan and drift must never send, so it stays pending;
            # nor does apply send it to a person the contact policy holds back now.
            lm = live.memberships.get(addr)
            if not (lm is not None and lm.attempt >= entry.attempt):
                live.pending.add(addr)
                sent, changes = _sent(session.desired, addr, entry, live)
                if sent is not None and changes and _replays(provider):  # held whatever the policy says
                    _resolve_changed(session.desired, provider, addr, entry, sent, changes, live)
                elif refusal:
                    live.held[addr] = (f"an earlier enrollment attempt has an unknown outcome and its keyed replay "
                                       f"would start it if it never arrived, which the contact policy does not allow "
                                       f"now ({refusal}); nothing is sent: check in {addr.provider} whether this "
                                       f"person is enrolled (`campaignctl state show '{addr}'` shows what was sent)")
                    live.warnings.append(f"{addr}: {live.held[addr]}")
                continue
        try:
            result = _resolve_one(session.desired, provider, addr, entry, live)
        except OutcomeUnknown:
            live.pending.add(addr)
            continue
        except ProviderError as exc:
            live.pending.add(addr)
            live.warnings.append(f"{addr}: could not resolve an earlier {entry.operation} yet ({exc})")
            continue
        if result is None:
            live.pending.add(addr)
            continue
        live.resolved[entry.seq] = result
        log.info("resolved in-doubt %s %s: %s", entry.operation, addr, result)


def settle_pending(session: Session, live: LiveSnapshot, *, only: str | None = None,
                   refused: Mapping[Address, str] | None = None) -> list[Address]:
    """After an apply was confirmed: settle the in-doubt writes its read-only read left pending.

    A start on a vendor that cannot list enrollments is settled only by replaying its idempotency key,
    which sends if the first attempt never arrived; that is why apply reads read-only first and
    replays only after the user said yes, and never for a member in `refused` (the contact policy
    holds them back now: why). Returns the addresses settled as present (their enrollment now exists)."""
    if not live.pending:
        return []
    waiting = set(live.pending)
    live.pending.clear()
    resolve_in_doubt(session, live, only=only, refused=refused)
    return sorted(a for a in waiting - live.pending if a in live.memberships)


def _concerns(session: Session, provider: str, only: str) -> bool:
    """Whether an intent of `provider` is resolved by the call restricted to `only`."""
    if provider in session.providers:
        return provider == only
    return only == min(session.providers)


def _find_sequence(desired: DesiredState, addr: Address) -> tuple[Any, Any]:
    for seq in desired.sequences:
        if seq.provider == addr.provider and seq.id == addr.group:
            for member in seq.members:
                if member.address == addr:
                    return seq, member
    return None, None


def _resolve_one(desired: DesiredState, provider: Provider, addr: Address, entry: JournalEntry,
                 live: LiveSnapshot) -> Outcome | None:
    """RESOLVED_PRESENT | RESOLVED_ABSENT | None (cannot tell yet); what it found goes into `live`."""
    operation, attempt = entry.operation, entry.attempt
    if operation == Operation.ENROLL:
        sent, changes = _sent(desired, addr, entry, live)
        if sent is not None and changes:
            return _resolve_changed(desired, provider, addr, entry, sent, changes, live)
        lm = live.memberships.get(addr)
        if lm is not None and lm.attempt >= attempt:
            return Outcome.RESOLVED_PRESENT
        seq, member = _find_sequence(desired, addr)
        if seq is None:
            live.warnings.append(f"{addr}: an earlier enrollment has an unknown outcome and its sequence is no longer "
                                 "declared; check the vendor by hand")
            return None
        contact = desired.contacts.get(member.contact_id) if member.contact_id else None
        found = provider.resolve_enrollment(seq, EnrollRequest(member, contact, attempt), sent_at=entry.at,
                                           seen=live.seen.get(provider.config.name))
        if found is None:
            return Outcome.RESOLVED_ABSENT
        live.memberships[addr] = found
        return Outcome.RESOLVED_PRESENT
    if operation in CARD_OPERATIONS:
        if operation == Operation.CREATE and addr not in live.cards:
            pipe = next((p for p in desired.pipelines if p.provider == addr.provider and p.id == addr.group), None)
            card = next((c for c in pipe.cards if c.address == addr), None) if pipe else None
            if pipe is None or card is None:
                return Outcome.RESOLVED_ABSENT
            found_card = provider.find_card(pipe, card, desired.contacts[card.contact_id],
                                           seen=live.seen.get(provider.config.name))
            if found_card is None:
                return Outcome.RESOLVED_ABSENT
            live.cards[addr] = found_card
        # updates, moves, archives are idempotent writes of target values: the fresh read is the truth
        return Outcome.RESOLVED_PRESENT if addr in live.cards else Outcome.RESOLVED_ABSENT
    if operation in BLUEPRINT_OPERATIONS:
        if addr not in live.blueprints:
            bp = next((b for b in desired.blueprints if b.address == addr), None)
            found_bp = provider.find_blueprint(bp) if bp else None
            if found_bp is None:
                return Outcome.RESOLVED_ABSENT
            live.blueprints[addr] = found_bp
        return Outcome.RESOLVED_PRESENT
    return Outcome.RESOLVED_PRESENT


def _replays(provider: Provider) -> bool:
    return vendors.replays_starts(provider.config.type)


def _sent(desired: DesiredState, addr: Address, entry: JournalEntry,
          live: LiveSnapshot) -> tuple[SentEnrollment | None, list[str]]:
    """What an enrollment intent recorded of its request (None: an intent an earlier version wrote),
    and what of it the manifests, as declared now, no longer want."""
    sent = SentEnrollment.of(entry.detail)
    seq, member = _find_sequence(desired, addr)
    if sent is None or seq is None:
        return sent, []
    return sent, sent.changes(seq, member, desired.contacts, live.people)


def _resolve_changed(desired: DesiredState, provider: Provider, addr: Address, entry: JournalEntry,
                     sent: SentEnrollment, changes: list[str], live: LiveSnapshot) -> Outcome | None:
    """An in-doubt enrollment whose request no longer matches the manifests: settled against what was
    sent, by reading, where the vendor settles by reading; held (`manual`) where only a keyed replay
    settles it, because a replay of a start that never arrived would now be a start the manifests no
    longer ask for.
    Found, the member is held too: the person was enrolled as sent, and a person decides what next."""
    seq, member = _find_sequence(desired, addr)
    what = (f"an earlier enrollment into {sent.target!r} (journal entry {entry.seq}, {entry.at[:16].replace('T', ' ')} "
            f"UTC) has an unknown outcome, and {'; '.join(changes)}")
    check = f"`campaignctl state show '{addr}'` shows what was sent"
    if _replays(provider):
        live.held[addr] = (f"{what}: {addr.provider} cannot list enrollments, and replaying the start would send it "
                           f"if it never arrived; nothing is sent to this member: check in {addr.provider} whether "
                           f"{sent.contact or 'the person'} is in {sent.target!r} ({check}); restoring what was sent "
                           "lets apply settle it by its keyed replay")
        return None
    contact = desired.contacts.get(member.contact_id) if member.contact_id else None
    as_seq, as_member, as_contact = sent.as_sent(seq, member, contact)
    found = provider.resolve_enrollment(as_seq, EnrollRequest(as_member, as_contact, entry.attempt),
                                        sent_at=entry.at, seen=live.seen.get(provider.config.name))
    if found is None:
        return Outcome.RESOLVED_ABSENT  # the request sent created nothing: what the manifests want now is planned
    live.memberships[addr] = found  # recorded, so the state remembers the person was enrolled
    live.unproven[addr] = (f"{what}: reading {addr.provider} shows it was enrolled there as sent "
                           f"({found.remote_id or found.vendor_status}); nothing more is sent to this member: check "
                           f"it in {addr.provider} ({check})")
    return Outcome.RESOLVED_PRESENT
