"""ClarkyProvider.read: memberships from the state cache (Clarky cannot list enrollments), cards
from the pipeline-card list.

Choices where the seed documents are silent:
- No cache entry means absent. After a lost state file the planner enrolls again, and the start's
  deterministic idempotency key makes that a replay that returns the original enrollment.
- Which remembered statuses answer without a request is the core's decision (reconciler/read_input.py:
  final ones, others younger than `status_refresh_minutes`, none on `--refresh`): the enrollments in
  `given.to_read` are re-read (GET /sequences/enrollments/{id}), those in `given.standing` are not.
  A cached enrollment Clarky no longer knows (404) keeps its cached status, with a warning: calling
  it absent could plan a second enrollment.
- Cached memberships the manifests no longer declare (orphans) are read the same way, so the
  planner can report the still-active ones as `manual`.
- Contact ids come from the state (`given.people`: a contact match, or the `contact` of a card or
  membership record), so a warm read needs no contact lookups; the rest are resolved only when some
  card's contact is not known yet (if every card is accounted for, the other declared contacts have no card).
- Snapshot cards: every managed card, plus unmanaged ones of declared or adopted addresses (the
  planner turns those into `manual` / `adopt`). `unmanaged_cards` counts active untagged cards.
- Two cards for one contact in one pipeline: the managed, active, most recent one stands for it,
  with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import NotFoundError
from reconciler.model import Address, DesiredState, Pipeline, ProviderConfig
from reconciler.providers._http import VendorClient
from reconciler.providers._paging import pages_numbered
from reconciler.providers.clarky._client import PAGE, Catalog, Known, enrollment_data, enrollment_path
from reconciler.providers.clarky._mapping import (
    best_card,
    compact_card,
    listed_total,
    more_pages,
    to_card,
    to_membership,
)
from reconciler.read_input import ReadInput
from reconciler.snapshot import LiveMembership, LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import Clock, utcnow


class ClarkyReader(Protocol):
    """What the read uses of ClarkyProvider (typed here, so this module does not import provider.py)."""

    @property
    def config(self) -> ProviderConfig: ...
    @property
    def clock(self) -> Clock: ...  # the session's: staleness and the times the read records
    @property
    def client(self) -> VendorClient: ...
    @property
    def catalog(self) -> Catalog: ...

    def requests_made(self) -> int: ...


@dataclass(frozen=True)
class ClarkySeen:
    """What a read saw that the writes need (LiveSnapshot.seen): the cards each listed pipeline holds,
    by Clarky contact id (create_card checks them instead of asking again; each only the fields it
    reads: `_mapping.compact_card`), the ownership tag, and what
    its lookups found (`Known`: contact ids, who is held ambiguously, primary emails, pipelines and
    stages), which the writes handed this value work on and add to."""

    cards: Mapping[str, Mapping[str, tuple[dict[str, Any], ...]]]  # pipeline id -> contact id -> cards
    ownership_tag: str
    known: Known


@dataclass(frozen=True)
class _Reading:
    """The provider as one read sees it: its config, clock and client, with a catalog of the read's own
    (what it finds goes into `seen`, never onto the provider)."""

    provider: ClarkyReader
    catalog: Catalog

    @property
    def config(self) -> ProviderConfig:
        return self.provider.config

    @property
    def clock(self) -> Clock:
        return self.provider.clock

    @property
    def client(self) -> VendorClient:
        return self.provider.client

    def requests_made(self) -> int:
        return self.provider.requests_made()


def read(owner: ClarkyReader, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
    """Everything `desired` and the state touch for this provider; what the writes need goes into
    `snap.seen` (ClarkySeen), not onto the provider."""
    provider = _Reading(owner, Catalog(owner.client))
    before = provider.requests_made()
    snap = LiveSnapshot()
    read_memberships(provider, desired, given, snap)
    cards = read_cards(provider, desired, given, snap)
    snap.seen[provider.config.name] = ClarkySeen(cards, given.ownership_tag, provider.catalog.known)
    _people(provider, desired, snap)
    snap.requests[provider.config.name] = provider.requests_made() - before
    return snap


# -- memberships ------------------------------------------------------------------------------------
def read_memberships(provider: ClarkyReader, desired: DesiredState, given: ReadInput, snap: LiveSnapshot) -> None:
    name = provider.config.name
    declared = {m.address for seq in desired.sequences if seq.provider == name for m in seq.members}
    orphans = {a for a in given.enrollments() if a not in declared}
    for address in sorted(declared) + sorted(orphans):
        entry = given.remembered(address)
        if entry is None or not entry.remote_id:
            continue
        if address in given.standing:  # the core's decision: its remembered status answers
            snap.memberships[address] = entry.membership(address)
        else:
            snap.memberships[address] = _membership(provider, address, entry, snap)
    _match_pending(provider, desired, given, snap, [a for a in sorted(declared) if a not in snap.memberships])


def _match_pending(provider: ClarkyReader, desired: DesiredState, given: ReadInput, snap: LiveSnapshot,
                   pending: list[Address]) -> None:
    """Members the plan would enroll: match their Clarky contact now, on every email and phone, so a
    person Clarky holds twice (or one Clarky contact two manifest contacts point at) plans `manual`
    instead of a start. Matches are remembered in the state, so this costs reads once per person."""
    if not pending:
        return
    known_contacts(provider, desired, given)
    members = {m.address: m.contact_id for seq in desired.sequences if seq.provider == provider.config.name
               for m in seq.members}
    people = sorted({cid for a in pending if (cid := members.get(a)) in desired.contacts})
    provider.catalog.resolve_many([desired.contacts[cid] for cid in people], bot_id=None, card_contacts=0)
    for address in pending:
        why = provider.catalog.ambiguous.get(members.get(address) or "")
        if why:
            snap.conflicts[address] = why


def _people(provider: ClarkyReader, desired: DesiredState, snap: LiveSnapshot) -> None:
    """The Clarky contact ids matched for declared contacts, for the state (no lookup next time); not
    a match from a contact list read that stopped early (another record may follow: `Known.partial`)."""
    partial = provider.catalog.known.partial
    for cid, remote in provider.catalog.contact_ids.items():
        if cid in desired.contacts and cid not in partial:
            snap.people[Address(provider.config.name, "contact", "contacts", cid)] = remote


def _membership(provider: ClarkyReader, address: Address, entry: StateRecord, snap: LiveSnapshot) -> LiveMembership:
    """A remembered enrollment read again (GET by its id)."""
    cached = entry.membership(address)
    path = enrollment_path(entry.remote_id or "")
    try:
        reply = provider.client.get(path)
    except NotFoundError:
        snap.warnings.append(f"{address}: Clarky no longer knows enrollment {entry.remote_id}; kept its last known "
                             f"status {cached.vendor_status!r} (check it in the Clarky UI)")
        return cached
    data = enrollment_data(provider.client, path, reply)
    return to_membership(address, data, attempt=entry.attempt, observed_at=utcnow(provider.clock),
                               since=cached.since)


# -- cards ------------------------------------------------------------------------------------------
def known_contacts(provider: ClarkyReader, desired: DesiredState, given: ReadInput) -> None:
    """Seed the catalog with the contact ids the state remembers for declared contacts: a remembered
    match is trusted while the contact still has one of the identifiers it was matched on."""
    for address, entry in given.people.items():
        if address.key not in desired.contacts:
            continue
        remote = entry.remote_id if address.kind == "contact" else entry.contact
        # A row that says whom it was for must still be this person: a contact id reused for someone
        # else must not inherit the old person's Clarky contact (rows of earlier versions say nothing).
        if entry.person is not None and not set(entry.person) & set(desired.contacts[address.key].identifiers):
            continue
        if remote:
            provider.catalog.contact_ids.setdefault(address.key, str(remote))


def read_cards(provider: ClarkyReader, desired: DesiredState, given: ReadInput,
               snap: LiveSnapshot) -> dict[str, dict[str, tuple[dict[str, Any], ...]]]:
    """The managed pipelines' cards into `snap`; returns every listed card by pipeline and contact id."""
    pipes = [p for p in desired.pipelines if p.provider == provider.config.name]
    by_pipeline: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {}
    if not pipes:
        return by_pipeline
    catalog = provider.catalog
    known_contacts(provider, desired, given)
    listed: list[tuple[Pipeline, dict[str, Any], list[dict[str, Any]]]] = []
    for pipe in pipes:
        remote = catalog.pipeline(pipe)
        snap.stages[(provider.config.name, pipe.id)] = tuple(s["name"] for s in catalog.stages(remote["id"]))
        # Kept as compact values (what the snapshot and the writes read), each page freed as it is read.
        pages = pages_numbered(provider.client, "/pipeline-cards",
                               {"pipeline_id": remote["id"], "include_archived": "true"}, size=PAGE,
                               more=more_pages, total=listed_total)
        cards = [compact_card(card) for card in pages]
        by_pipeline[remote["id"]] = _by_contact(cards)
        listed.append((pipe, remote, cards))
    card_contacts = {c.get("contact_id") for _, _, cards in listed for c in cards if c.get("contact_id")}
    if card_contacts - set(catalog.contact_ids.values()):
        wanted = sorted({c.contact_id for p in pipes for c in p.cards})
        bots = {r.get("bot_id") for _, r, _ in listed}
        catalog.resolve_many([desired.contacts[cid] for cid in wanted if cid in desired.contacts],
                             bot_id=bots.pop() if len(bots) == 1 else None, card_contacts=len(card_contacts))
    for pipe, remote, cards in listed:
        _snapshot_cards(provider, desired, given, snap, pipe, remote, cards)
    return by_pipeline


def _by_contact(cards: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], ...]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for card in cards:
        if card.get("contact_id"):
            grouped.setdefault(card["contact_id"], []).append(card)
    return {contact: tuple(group) for contact, group in grouped.items()}


def _snapshot_cards(provider: ClarkyReader, desired: DesiredState, given: ReadInput, snap: LiveSnapshot,
                    pipe: Pipeline, remote: dict[str, Any], cards: list[dict[str, Any]]) -> None:
    tag = given.ownership_tag
    by_remote = {r: m for m, r in provider.catalog.contact_ids.items() if m in desired.contacts}
    declared = {c.contact_id for c in pipe.cards}
    stage_names = provider.catalog.stage_names(remote["id"])
    groups: dict[Address, list[dict[str, Any]]] = {}
    unmanaged = 0
    for spec in pipe.cards:  # a person Clarky holds ambiguously gets no card change until that is fixed
        why = provider.catalog.ambiguous.get(spec.contact_id)
        if why:
            snap.conflicts[spec.address] = why
    for card in cards:
        contact = card.get("contact_id")
        if contact in provider.catalog.contested:
            continue  # whose card this is cannot be told: never pruned, never attributed
        manifest_id = by_remote.get(contact) if contact else None
        key = manifest_id or (f"remote:{contact}" if contact else f"remote:card-{card.get('id')}")
        address = Address(provider.config.name, "card", pipe.id, key)
        managed = tag in (card.get("tags") or ())
        if not managed and card.get("archived_at") is None:
            unmanaged += 1
        if managed or manifest_id in declared or address in given.adopted:
            groups.setdefault(address, []).append(card)
    snap.unmanaged_cards[(provider.config.name, pipe.id)] = unmanaged
    for address, group in sorted(groups.items()):
        chosen = best_card(group, tag)
        if len(group) > 1:
            others = ", ".join(str(c.get("id")) for c in group if c is not chosen)
            snap.warnings.append(f"{address}: {len(group)} cards for one contact in pipeline {pipe.pipeline!r}; "
                                 f"using {chosen.get('id')}, not {others}")
        snap.cards[address] = to_card(address, chosen, stage_names, tag)
