"""Read the live state for a campaigns directory: providers, state cache, in-doubt resolution.

`plan`, `apply` and `drift` all start here, in a session (reconciler/session.py): read live,
resolve every write whose outcome the journal leaves in doubt (by reading, or by an
idempotency-keyed replay that cannot send twice), and only then compute the plan.

Choices: providers are read side by side (one thread each; independent accounts and budgets).
`plan` and `drift` read with `read_only`: a Clarky start in doubt can only be settled by a keyed
replay, and replaying a start that never arrived sends it, so they leave it `pending` for apply.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from reconciler import __version__
from reconciler.errors import OutcomeUnknown, ProviderError
from reconciler.model import Address, Contact, DesiredState, Membership, Sequence
from reconciler.plan import Policies, ProviderCaps, compute_plan
from reconciler.plan_types import Plan
from reconciler.providers.base import EnrollRequest, Provider, ReadContext
from reconciler.session import Session, open_session, providers_in_use  # noqa: F401  (re-exported)
from reconciler.snapshot import STATUSES, UNSEEN, CacheEntry, LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot
from reconciler.state import Store, stored_address, utcnow

log = logging.getLogger(__name__)
CARD_OPS = ("create", "update", "move", "archive", "unarchive", "delete", "adopt")


def policies_for(session: Session) -> Policies:
    """Planner inputs from the providers' capabilities and the journal."""
    caps = {name: ProviderCaps(p.capabilities.can_stop_membership, p.capabilities.can_archive_cards,
                               p.capabilities.can_delete_cards) for name, p in session.providers.items()}
    return Policies(capabilities=caps, sent_last_24h=session.store.sends_last_24h(), adopted=session.store.adopted(),
                    tool_version=__version__, created_at=utcnow(session.clock))


def read_live(session: Session, *, refresh: bool = False, progress: Callable[[str], None] | None = None,
              read_only: bool = False) -> LiveSnapshot:
    """Read every provider, resolve in-doubt writes, and refresh the state cache.

    `read_only` (plan, drift) sends no write request of any kind: in-doubt writes that only a keyed
    replay could settle stay `pending` instead; the others are settled by reading as usual."""
    # rows written after this (by an apply running beside a plan or drift) are newer than our read
    started = utcnow(session.clock)
    ctx = read_context(session, refresh=refresh)
    live = LiveSnapshot()
    # Providers are independent accounts with their own rate budgets: read them side by side, so a
    # slow or throttled vendor does not hold up the others. Merged in name order (deterministic).
    names = sorted(session.providers)
    snaps: dict[str, LiveSnapshot] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {pool.submit(session.providers[name].read, session.desired, ctx): name for name in names}
        for future in as_completed(futures):
            snaps[futures[future]] = future.result()
            if progress:
                progress(f"read {futures[future]} ({len(snaps)}/{len(names)} providers)")
    for name in names:
        live.merge(snaps[name])
    carry_renames(session.desired, live, ctx.cache)
    resolve_in_doubt(session, live, read_only=read_only)
    known_now_absent(ctx.cache, live)
    remember(session.store, live, read_started=started, desired=session.desired, cache=ctx.cache)
    return live


def membership_identity(seq: Sequence, member: Membership, contacts: Mapping[str, Contact]) -> dict[str, Any]:
    """What a membership row remembers of who it is and where: the person's identifiers and the vendor
    sequence (template, sequence or blueprint), so a renamed or moved member is recognised."""
    contact = contacts.get(member.contact_id or "")
    person = list(contact.identifiers) if contact else [f"kalent:{member.candidate_id}"] if member.candidate_id else []
    return {"person": person, "target": seq.target}


def carry_renames(desired: DesiredState, live: LiveSnapshot, cache: Mapping[Address, CacheEntry]) -> None:
    """An enrollment the state knows under an address the manifests no longer declare, for the same
    person in the same vendor sequence as a declared member (a contact or sequence id renamed, a
    member moved between lists), is that member's: it is moved to the new address (`live.renames`), so
    the plan neither enrolls the person again nor asks to stop their only enrollment.

    The same person: a shared identifier, or (rows written before identifiers were recorded) the
    vendor's own id of the person (Clarky / Gary contact id, Kalent candidate id)."""
    declared: dict[tuple[str, str], list[tuple[Address, set[str], set[str]]]] = {}
    targets = {(seq.provider, seq.id): seq.target for seq in desired.sequences}
    for seq in desired.sequences:
        for member in seq.members:
            person = set(membership_identity(seq, member, desired.contacts)["person"])
            vendor = {member.candidate_id, live.people.get(Address(seq.provider, "contact", "contacts", member.contact_id or ""))}
            declared.setdefault((seq.provider, seq.target), []).append((member.address, person, vendor - {None}))
    names = {a: p for group in declared.values() for a, p, _ in group}
    # A row recorded for another person than the one its address now names (a contact id reused for
    # someone else) is not this member's enrollment: the new person is not enrolled by it.
    reused = set()
    for old, entry in cache.items():
        extra = dict(entry.extra)
        lm = live.memberships.get(old)
        if old in names and extra.get("person") and not set(extra["person"]) & names[old] \
                and lm is not None and lm.remote_id == entry.remote_id:
            live.memberships.pop(old)
            live.renames_from[old] = lm
            reused.add(old)
    taken: set[Address] = set()
    for old, entry in sorted(cache.items()):
        extra = dict(entry.extra)
        target = extra.get("target", targets.get((old.provider, old.group)))
        if old.kind != "membership" or (old in names and old not in reused) or target is None:
            continue
        person, vendor_id = set(extra.get("person") or ()), extra.get("contact")
        matches = [a for a, p, v in declared.get((old.provider, target), []) if p & person or vendor_id in v]
        if len(matches) != 1 or matches[0] in taken:
            continue  # no one, or not one person: left as it is (reported like any undeclared enrollment)
        new = matches[0]
        was, now = live.memberships.get(old) or live.renames_from.get(old), live.memberships.get(new)
        if was is not None and now is not None and was.remote_id and now.remote_id and was.remote_id != now.remote_id:
            continue  # two different enrollments: not a rename (None: a start not yet seen, e.g. Kalent's)
        if was is None and now is None:
            continue
        if now is None:
            live.memberships[new] = dataclasses.replace(was, address=new)
        live.memberships.pop(old, None)
        live.renames[new] = old
        taken.add(new)


def known_now_absent(cache: Mapping[Address, CacheEntry], live: LiveSnapshot, *, provider: str | None = None) -> None:
    """A membership the state recorded (started, finished, failed) that the vendor now reads as absent
    is unproven, never absent: enrolling it could send a second time (the vendor may have lost or
    hidden it, or the read may be wrong), so the plan says `manual` and a person decides."""
    renamed = set(live.renames.values())
    for address, entry in cache.items():
        if address.kind != "membership" or entry.status not in STATUSES:
            continue
        if provider is not None and address.provider != provider:  # `live` holds this provider only
            continue
        if address in live.memberships or address in live.pending or address in live.unproven:
            continue
        if address in renamed or address in live.renames or address in live.renames_from:
            continue  # kept under its new address, or recorded for someone else
        seen = f", last read {entry.observed_at[:16].replace('T', ' ')} UTC" if entry.observed_at else ""
        live.unproven[address] = (
            f"the state recorded this enrollment as {entry.vendor_status or entry.status}{seen}, but "
            f"{address.provider} now shows none: check it in the vendor; nothing is sent while the state "
            "remembers it")


def read_provider(session: Session, name: str, ctx: ReadContext, *, read_started: str,
                  read_only: bool = True) -> LiveSnapshot:
    """One provider's part of `read_live`: read it, resolve its in-doubt writes, refresh its cache rows.
    For an apply whose plan is already fixed, where each vendor goes on to its writes on its own."""
    snap = session.providers[name].read(session.desired, ctx)
    carry_renames(session.desired, snap, {a: e for a, e in ctx.cache.items() if a.provider == name})
    resolve_in_doubt(session, snap, read_only=read_only, only=name)
    known_now_absent(ctx.cache, snap, provider=name)
    remember(session.store, snap, read_started=read_started, desired=session.desired, cache=ctx.cache)
    return snap


def read_context(session: Session, *, refresh: bool = False) -> ReadContext:
    return ReadContext(cache=session.store.cache(), ownership_tag=session.desired.project.ownership_tag,
                       refresh=refresh, adopted=session.store.adopted())


def make_plan(session: Session, live: LiveSnapshot) -> Plan:
    return compute_plan(session.desired, live, policies_for(session))


def remember(store: Store, live: LiveSnapshot, *, read_started: str | None = None,
             desired: DesiredState | None = None, cache: Mapping[Address, CacheEntry] | None = None) -> None:
    """Write what was read into the cache (remote ids, statuses), so the next plan reads less.

    `read_started`: plan and drift take no lock, so an apply may record an enrollment while they
    read; a row written after their read began is newer than what they saw and is left alone
    (writing an old `failed` back over a fresh retry would plan that retry again)."""
    now = utcnow(store.clock)
    identities = {m.address: membership_identity(seq, m, desired.contacts) for seq, m in desired.memberships()} \
        if desired is not None else {}
    with store.batch():
        for lm in live.memberships.values():
            kept = dict((cache or {}).get(lm.address, CacheEntry(None)).extra)  # an undeclared row keeps who it was
            identity = identities.get(lm.address) or {k: kept[k] for k in ("person", "target") if k in kept}
            remember_membership(store, lm, unless_updated_after=read_started, identity=identity)
        for addr, remote in live.people.items():
            contact = desired.contacts.get(addr.key) if desired is not None else None
            store.remember(addr, remote, status="active", observed_at=now,
                           extra={"person": list(contact.identifiers) if contact else []},
                           unless_updated_after=read_started)
        for addr, (contact, since) in live.absent_seen.items():
            store.remember(addr, None, status=UNSEEN, vendor_status="none", observed_at=now,
                           extra={"contact": contact, "since": since}, unless_updated_after=read_started)
        for addr, lc in live.cards.items():
            store.remember(addr, lc.remote_id, status="archived" if lc.archived else "active", vendor_status=lc.stage,
                           observed_at=now, extra={"contact": lc.contact_remote_id} if lc.contact_remote_id else None,
                           unless_updated_after=read_started)
        for addr, lb in live.blueprints.items():
            store.remember(addr, lb.remote_id, status="active", observed_at=now, unless_updated_after=read_started)


def remember_membership(store: Store, lm: LiveMembership, *, unless_updated_after: str | None = None,
                        identity: Mapping[str, Any] | None = None) -> None:
    """observed_at None (taken from the cache, not read now) keeps the time the vendor was last read,
    so runs closer together than status_refresh_minutes cannot keep a cached status fresh for ever."""
    extra = {k: v for k, v in (("contact", lm.contact_remote_id), ("since", lm.since), ("reason", lm.reason),
                               ("unreachable", lm.unreachable or None)) if v}
    extra.update(identity or {})
    store.remember(lm.address, lm.remote_id, status=lm.status, vendor_status=lm.vendor_status, attempt=lm.attempt,
                   observed_at=lm.observed_at, extra=extra, unless_updated_after=unless_updated_after)


def _find_sequence(desired: DesiredState, addr: Address) -> tuple[Any, Any]:
    for seq in desired.sequences:
        if seq.provider == addr.provider and seq.id == addr.group:
            for member in seq.members:
                if member.address == addr:
                    return seq, member
    return None, None


def resolve_in_doubt(session: Session, live: LiveSnapshot, *, read_only: bool = False, only: str | None = None) -> None:
    """Settle every journal intent without a known outcome, by reading; unsettled ones become `pending`.
    `only`: just this provider's intents (with `live` its snapshot); those of providers no longer
    configured go with the first provider by name, so their warning is given once."""
    store = session.store
    # A plan or drift beside a running apply must not close that apply's in-flight intents (it
    # could read "absent" a moment before the write lands): leave them all to the apply. An apply's
    # own read-only read (it holds the lock itself) settles what reading can settle.
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
        if read_only and entry.operation == "enroll" and not provider.capabilities.can_list_memberships:
            # Only a keyed replay of the start can settle this (Clarky), and a replay of a start that
            # never arrived IS the start: plan and drift must never send, so it stays pending.
            lm = live.memberships.get(addr)
            if not (lm is not None and lm.attempt >= entry.attempt):
                live.pending.add(addr)
                continue
        try:
            result = _resolve_one(session, provider, addr, entry.operation, entry.attempt, entry.at, live)
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
        store.outcome(entry.seq, result, detail={"resolved_at": utcnow(session.clock)})
        log.info("resolved in-doubt %s %s: %s", entry.operation, addr, result)


def _concerns(session: Session, provider: str, only: str) -> bool:
    """Whether an intent of `provider` is resolved by the call restricted to `only`."""
    if provider in session.providers:
        return provider == only
    return only == min(session.providers)


def settle_in_doubt(session: Session, live: LiveSnapshot, *, only: str | None = None) -> list[Address]:
    """After an apply was confirmed: settle the in-doubt enrollments its read-only read left pending.

    A Clarky start is settled only by replaying its idempotency key, which sends if the first attempt
    never arrived; that is why apply reads read-only first and replays only after the user said yes.
    Returns the addresses settled as present (their enrollment now exists)."""
    if not live.pending:
        return []
    waiting = set(live.pending)
    live.pending.clear()
    resolve_in_doubt(session, live, only=only)
    settled = sorted(a for a in waiting - live.pending if a in live.memberships)
    identities = {m.address: membership_identity(seq, m, session.desired.contacts)
                  for seq, m in session.desired.memberships() if m.address in settled}
    for addr in settled:
        remember_membership(session.store, live.memberships[addr], identity=identities.get(addr))
    return settled


def _resolve_one(session: Session, provider: Provider, addr: Address, operation: str, attempt: int,
                 sent_at: str, live: LiveSnapshot) -> str | None:
    """'resolved_present' | 'resolved_absent' | None (cannot tell yet)."""
    desired = session.desired
    if operation == "enroll":
        lm = live.memberships.get(addr)
        if lm is not None and lm.attempt >= attempt:
            return "resolved_present"
        seq, member = _find_sequence(desired, addr)
        if seq is None:
            live.warnings.append(f"{addr}: an earlier enrollment has an unknown outcome and its sequence is no longer "
                                 "declared; check the vendor by hand")
            return None
        contact = desired.contacts.get(member.contact_id) if member.contact_id else None
        found = provider.resolve_enrollment(seq, EnrollRequest(member, contact, attempt), sent_at=sent_at)
        if found is None:
            return "resolved_absent"
        live.memberships[addr] = found
        return "resolved_present"
    if operation in CARD_OPS:
        if operation == "create" and addr not in live.cards:
            pipe = next((p for p in desired.pipelines if p.provider == addr.provider and p.id == addr.group), None)
            card = next((c for c in pipe.cards if c.address == addr), None) if pipe else None
            if card is None:
                return "resolved_absent"
            found_card = provider.find_card(pipe, card, desired.contacts[card.contact_id])
            if found_card is None:
                return "resolved_absent"
            live.cards[addr] = found_card
        # updates, moves, archives are idempotent writes of target values: the fresh read is the truth
        return "resolved_present" if addr in live.cards else "resolved_absent"
    if operation in ("create_blueprint", "update_blueprint"):
        if addr not in live.blueprints:
            bp = next((b for b in desired.blueprints if b.address == addr), None)
            found_bp = provider.find_blueprint(bp) if bp else None
            if found_bp is None:
                return "resolved_absent"
            live.blueprints[addr] = found_bp
        return "resolved_present"
    return "resolved_present"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["Session", "open_session", "read_live", "read_provider", "read_context", "make_plan", "remember", "remember_membership", "settle_in_doubt",
           "resolve_in_doubt", "LiveCard", "LiveBlueprint"]
