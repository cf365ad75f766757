"""Clarky's HTTP requests: the lookups (`Catalog`) and the writes (`Writer`, which only send and say
what came back).

What the lookups found (pipelines, stages, contact ids, who is held ambiguously, primary emails) is
data, `Known`: a read's travels to the writes in `ClarkySeen.known`, so an apply that follows a read
sends no lookup the read already made, and a write learns nothing from a read it was not handed.
Choices where the docs are silent:
- A pipeline is named by id or by name (exact, then case-insensitive); two pipelines with the
  same name are an error asking for the id.
- A contact is looked up on every identifier it has: each email (by-email) and each phone (a
  `search` filtered to that phone). Two Clarky contacts for one manifest contact, or one Clarky
  contact for two manifest contacts, is a conflict: nothing is sent to that person.
- Many contacts at once are matched from the contacts list (page_size 100, filtered by the
  pipelines' bot when they share one), stopping at the first page after which nothing is
  missing; when the list turns out longer than the remaining by-email lookups would cost, the
  rest are looked up by email instead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import ConflictError, NotFoundError, OutcomeUnknown, PlanError, ServerError, ValidationFailed
from reconciler.model import Contact, Pipeline
from reconciler.providers._http import Reply, VendorClient
from reconciler.providers._paging import list_at, object_at, pages_numbered
from reconciler.providers._paths import seg
from reconciler.providers.clarky._mapping import (
    listed_total,
    more_pages,
    normalize_phone,
    vendor_identifiers,
    vendor_primary_email,
)

PAGE = 100
START = "/sequences/start"
CARDS = "/pipeline-cards"
CONTACTS = "/contacts"


def stages_path(pipeline_id: str) -> str:
    return f"/pipelines/{seg(pipeline_id)}/stages"


def contact_path(contact_id: str) -> str:
    return f"/contacts/{seg(contact_id)}"


def enrollment_path(enrollment_id: str) -> str:
    return f"/sequences/enrollments/{seg(enrollment_id)}"


def card_path(card_id: str) -> str:
    return f"{CARDS}/{seg(card_id)}"


BY_EMAIL_MIN = 5  # up to this many unknown contacts are always looked up one by one


@dataclass
class Known:
    """What one account's lookups found, kept as data. A read's goes into its `seen`; the writes handed
    that read work on it (and add what they learn, such as a contact they created), so two writes of
    one apply never create one person twice, whichever provider instance runs them."""

    pipelines: list[dict[str, Any]] | None = None
    stages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # pipeline id -> stages in order
    contact_ids: dict[str, str] = field(default_factory=dict)  # manifest contact id -> Clarky contact id
    absent: set[str] = field(default_factory=set)  # manifest contact ids Clarky had no contact for when asked
    ambiguous: dict[str, str] = field(default_factory=dict)  # manifest contact id -> why it is not one contact
    primaries: dict[str, str | None] = field(default_factory=dict)  # Clarky contact id -> its primary email
    contested: set[str] = field(default_factory=set)  # Clarky contact ids involved in an ambiguous match
    # manifest contact ids matched from a contact list read that stopped before its end: a second Clarky
    # record of the person may sit further on, so they are looked up by every identifier before anything
    # is keyed on them (`confirm`) and their match is not remembered in the state
    partial: set[str] = field(default_factory=set)
    # (pipeline id, contact id) -> cards the writes created since the read, so a second create sees the first
    created_cards: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)


class Catalog:
    """Lookups of one account through `client`, kept in `known` (a fresh `Known` unless given one)."""

    def __init__(self, client: VendorClient, known: Known | None = None) -> None:
        self.client = client
        self.known = known if known is not None else Known()
        self.contact_ids = self.known.contact_ids
        self.absent = self.known.absent
        self.ambiguous = self.known.ambiguous
        self.primaries = self.known.primaries
        self.contested = self.known.contested

    # -- pipelines and stages -------------------------------------------------------------------
    def pipelines(self) -> list[dict[str, Any]]:
        if self.known.pipelines is None:
            self.known.pipelines = list(pages_numbered(self.client, "/pipelines", {}, size=PAGE, more=more_pages,
                                                       total=listed_total))
        return self.known.pipelines

    def pipeline(self, pipe: Pipeline) -> dict[str, Any]:
        """The live pipeline `pipe` names; PlanError naming the available ones when there is none."""
        items = self.pipelines()
        found = ([p for p in items if p.get("id") == pipe.pipeline]
                 or [p for p in items if p.get("name") == pipe.pipeline])
        if not found:
            found = [p for p in items if str(p.get("name", "")).casefold() == pipe.pipeline.casefold()]
        if len(found) == 1:
            return found[0]
        where = f"{pipe.loc}: " if pipe.loc.line else ""
        if found:
            ids = ", ".join(str(p.get("id")) for p in found)
            raise PlanError(f"{where}{pipe.provider}: {len(found)} pipelines are named {pipe.pipeline!r} ({ids}); "
                            "name the pipeline by id")
        names = ", ".join(repr(p.get("name")) for p in items) or "none"
        raise PlanError(f"{where}{pipe.provider}: no pipeline {pipe.pipeline!r} (available: {names})")

    def pipeline_for_write(self, pipe: Pipeline, method: str, path: str) -> dict[str, Any]:
        """As `pipeline`, but as a ProviderError the apply engine reports per change."""
        try:
            return self.pipeline(pipe)
        except PlanError as exc:
            raise ValidationFailed(self.client.vendor, method, path, None, str(exc), code="unknown_pipeline") from None

    def stages(self, pipeline_id: str) -> list[dict[str, Any]]:
        """Stages in order (not paginated, per the docs)."""
        if pipeline_id not in self.known.stages:
            path = stages_path(pipeline_id)
            items = list_at(self.client, path, self.client.get(path), "data")
            self.known.stages[pipeline_id] = sorted(items, key=lambda s: s.get("order_index", 0))
        return self.known.stages[pipeline_id]

    def stage_names(self, pipeline_id: str) -> dict[str, str]:
        """stage id -> name."""
        return {s["id"]: s["name"] for s in self.stages(pipeline_id)}

    def stage_id(self, pipeline_id: str, pipe: Pipeline, name: str, method: str, path: str) -> str:
        """The id of stage `name`; a ValidationFailed naming the stages there are when unknown."""
        for stage in self.stages(pipeline_id):
            if stage["name"] == name:
                return stage["id"]
        names = ", ".join(s["name"] for s in self.stages(pipeline_id))
        raise ValidationFailed(self.client.vendor, method, path, None,
                               f"pipeline {pipe.pipeline!r} has no stage {name!r} (its stages: {names})",
                               code="unknown_stage")

    def cards_of(self, pipeline_id: str, contact_id: str) -> list[dict[str, Any]]:
        """Every card (archived too) of one contact in one pipeline, asked now."""
        params = {"pipeline_id": pipeline_id, "contact_id": contact_id, "include_archived": "true"}
        return list(pages_numbered(self.client, CARDS, params, size=PAGE, more=more_pages, total=listed_total))

    def enrollment(self, enrollment_id: str) -> dict[str, Any]:
        """One enrollment's status, read now (`enrollment_data`)."""
        path = enrollment_path(enrollment_id)
        return enrollment_data(self.client, path, self.client.get(path))

    # -- contacts -------------------------------------------------------------------------------
    def lookup(self, contact: Contact) -> str | None:
        """Read-only: the Clarky id of `contact` (remembered), matched on every email and phone it has,
        or None when Clarky has none. ConflictError when its identifiers lead to two Clarky contacts, or
        to one that another manifest contact already is: enrolling would pick one person at random."""
        if contact.id in self.ambiguous:
            raise self._conflict(contact.id)
        if contact.id in self.contact_ids or contact.id in self.absent:
            return self.contact_ids.get(contact.id)
        found: dict[str, Mapping[str, Any]] = {}
        for ident in contact.identifiers:
            kind, _, value = ident.partition(":")
            items = self._by_email(value) if kind == "email" else self._by_phone(value) if kind == "phone" else []
            for item in items:
                found[str(item["id"])] = item
        return self._settle(contact, found)

    def confirm(self, contact: Contact) -> None:
        """Before a start or a card is keyed on `contact`'s Clarky id: a match from a contact list read
        that stopped early is looked up again by every email and phone, so a second Clarky record of
        the person is found (ConflictError) instead of one being picked."""
        if contact.id in self.known.partial:
            self.known.partial.discard(contact.id)
            self.contact_ids.pop(contact.id, None)
            self.lookup(contact)

    def _settle(self, contact: Contact, found: Mapping[str, Mapping[str, Any]],
                owners: dict[str, list[str]] | None = None) -> str | None:
        """Record what matching `contact` found: nothing, one Clarky contact, or a conflict (raised).
        `owners` (Clarky id -> manifest ids, in `contact_ids` order) is kept up to date by a caller
        settling many contacts, so each settles in constant time rather than a scan of `contact_ids`."""
        if len(found) > 1:
            self.contested.update(found)
            self.ambiguous[contact.id] = (f"contact {contact.id!r} matches {len(found)} Clarky contacts "
                                          f"({', '.join(sorted(found))}) on its emails and phones")
            raise self._conflict(contact.id)
        if not found:
            self.remember(contact.id, None)
            return None
        (remote_id, item), = found.items()
        mapped = owners.get(remote_id, ()) if owners is not None else \
            (m for m, r in self.contact_ids.items() if r == remote_id)
        owner = next((m for m in mapped if m != contact.id), None)
        if owner is not None:
            reason = f"Clarky contact {remote_id} matches both {owner!r} and {contact.id!r}"
            self.ambiguous[contact.id] = self.ambiguous[owner] = reason
            self.contested.add(remote_id)
            raise self._conflict(contact.id)
        self.remember(contact.id, remote_id, item)
        if owners is not None:
            owners.setdefault(remote_id, []).append(contact.id)
        return remote_id

    def _conflict(self, contact_id: str) -> ConflictError:
        return ConflictError(self.client.vendor, "GET", "/contacts", None,
                             f"{self.ambiguous[contact_id]}; nothing is sent to this person until one record is "
                             "left (merge them in Clarky, or fix the manifest)", code="ambiguous_contact")

    def remember(self, contact_id: str, remote_id: str | None, item: Mapping[str, Any] | None = None) -> None:
        """Record what Clarky answered for a manifest contact (None: no such contact yet)."""
        if remote_id:
            self.contact_ids[contact_id] = remote_id
            self.absent.discard(contact_id)
            if item is not None:
                self.primaries[remote_id] = vendor_primary_email(item)
        else:
            self.absent.add(contact_id)

    def vendor_email(self, remote_id: str) -> str | None:
        """The primary email Clarky holds for a contact (read once when not known yet); NotFoundError when
        the contact no longer exists."""
        if remote_id not in self.primaries:
            path = contact_path(remote_id)
            data = object_at(self.client, path, self.client.get(path), "data")
            self.primaries[remote_id] = vendor_primary_email(data)
        return self.primaries[remote_id]

    def forget(self, contact_id: str) -> None:
        """Drop what is known of a manifest contact (its remembered Clarky id turned out gone)."""
        remote = self.contact_ids.pop(contact_id, None)
        self.primaries.pop(remote or "", None)
        self.absent.discard(contact_id)

    def _by_email(self, email: str) -> list[Mapping[str, Any]]:
        try:
            reply = self.client.get("/contacts/by-email", {"email": email})
        except NotFoundError:  # documented: 404 not_found when no contact has this email
            return []
        data = object_at(self.client, "/contacts/by-email", reply, "data")
        return [data] if data.get("id") else []

    def _by_phone(self, phone: str | None) -> list[Mapping[str, Any]]:
        want = f"phone:{normalize_phone(phone)}"
        if not phone:
            return []
        return [item for item in pages_numbered(self.client, "/contacts", {"search": phone}, size=PAGE, more=more_pages,
                                                total=listed_total)
                if item.get("id") and want in vendor_identifiers(item)]

    def resolve_many(self, contacts: Iterable[Contact], *, bot_id: str | None, card_contacts: int) -> None:
        """Find the Clarky ids of many contacts with as few reads as the numbers allow (conflicts are
        recorded in `ambiguous`, not raised)."""
        todo = [c for c in contacts if c.id not in self.contact_ids and c.id not in self.absent
                and c.id not in self.ambiguous]
        if not todo:
            return
        # Each card has a contact, so the contact list has at least this many pages.
        min_pages = math.ceil(max(card_contacts, len(todo)) / PAGE)
        if sum(_lookups(c) for c in todo) <= max(BY_EMAIL_MIN, min_pages):
            for contact in todo:
                self._quietly(contact)
            return
        self._match_from_list(todo, bot_id)

    def _quietly(self, contact: Contact) -> None:
        try:
            self.lookup(contact)
        except ConflictError:
            pass  # recorded in `ambiguous`; the planner turns it into `manual`

    def _match_from_list(self, todo: list[Contact], bot_id: str | None) -> None:
        """Match from the contact list on every identifier; stops once every contact has a match. A
        second record of one person later in the list is then unseen: such matches are `partial`, and
        `confirm` looks them up one by one before anything is keyed on them."""
        index = {ident: c for c in todo for ident in c.identifiers if not ident.startswith("kalent:")}
        hits: dict[str, dict[str, Mapping[str, Any]]] = {c.id: {} for c in todo}
        # What the contacts without a match yet would cost one by one, kept as matches come in: a
        # sum over them per page made 500 pages x 50,000 contacts the larger part of a 100k plan.
        unmatched = Counter(c.id for c in todo)
        cost = {c.id: _lookups(c) for c in todo}
        unmatched_cost = sum(cost[cid] * n for cid, n in unmatched.items())
        page, complete = 1, False
        while True:
            reply = self.client.get("/contacts", {"bot_id": bot_id, "page": page, "page_size": PAGE})
            body = reply.json
            items = list_at(self.client, "/contacts", reply, "data")
            for item in items:
                for ident in vendor_identifiers(item):
                    if ident in index and item.get("id"):
                        cid = index[ident].id
                        hits[cid][str(item["id"])] = item
                        if cid in unmatched:
                            unmatched_cost -= cost[cid] * unmatched.pop(cid)
            if not more_pages(body, items, page):
                complete = True
                break
            if not unmatched:
                break
            pages_left = int((body.get("pagination") or {}).get("total_pages") or 0) - page
            if pages_left > unmatched_cost:
                missing = [c for c in todo if not hits[c.id]]
                for contact in missing:  # cheaper one by one than the rest of the list
                    self._quietly(contact)
                todo = [c for c in todo if hits[c.id]]
                break
            page += 1
        owners: dict[str, list[str]] = {}
        for contact in todo:
            for remote in hits[contact.id]:
                owners.setdefault(remote, []).append(contact.id)
        for remote, ids in owners.items():
            if len(ids) > 1:  # one Clarky record carries identifiers of two manifest contacts
                self.contested.add(remote)
                for cid in ids:
                    self.ambiguous[cid] = f"Clarky contact {remote} matches {' and '.join(repr(i) for i in ids)}"
        settled: dict[str, list[str]] = {}
        for manifest_id, remote in self.contact_ids.items():
            settled.setdefault(remote, []).append(manifest_id)
        for contact in todo:
            if contact.id not in self.ambiguous:
                try:
                    if self._settle(contact, hits[contact.id], settled) is not None and not complete:
                        self.known.partial.add(contact.id)
                except ConflictError:
                    pass


def _lookups(contact: Contact) -> int:
    """Reads one contact's lookup costs: one per email and per phone."""
    return sum(1 for ident in contact.identifiers if not ident.startswith("kalent:"))


def enrollment_data(client: VendorClient, path: str, reply: Reply) -> dict[str, Any]:
    """The documented `data` of an enrollment status read, with its `status`; else MalformedResponse."""
    data = object_at(client, path, reply, "data")
    if not isinstance(data.get("status"), str):
        raise client.malformed(path, reply, "the documented 'data.status'")
    return dict(data)


class Writer:
    """Clarky's writes: each sends one request and returns the answer; what to send and what the
    answer means is the provider's business. Retries follow `VendorClient.write`."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client

    def start(self, body: dict[str, Any]) -> Reply:
        """POST /sequences/start, keyed (retried). A keyed start whose retries ran out on 5xx or lost
        answers may still have been committed: say so (OutcomeUnknown, settled by a replay) instead of
        'failed', which daily_cap would not count."""
        try:
            return self.client.write("POST", START, json=body, idempotent=True)
        except ServerError as exc:
            raise OutcomeUnknown(exc.vendor, exc.method, exc.path, exc.status, exc.vendor_message, code=exc.code,
                                 request_id=exc.request_id, details=exc.details) from None

    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /contacts (not idempotent: a lost answer is OutcomeUnknown); the answer's `data`."""
        return (self.client.write("POST", CONTACTS, json=body, idempotent=False).json or {}).get("data") or {}

    def create_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /pipeline-cards (not idempotent: a lost answer is OutcomeUnknown); the answer's `data`."""
        return (self.client.write("POST", CARDS, json=body, idempotent=False).json or {}).get("data") or {}

    def update_card(self, card_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH to target values (idempotent, retried); the answer's `data`."""
        return (self.client.write("PATCH", card_path(card_id), json=body, idempotent=True).json or {}).get("data") or {}

    def delete_card(self, card_id: str) -> None:
        """DELETE (retried); a card that is already gone counts as deleted."""
        try:
            self.client.write("DELETE", card_path(card_id), idempotent=True)
        except NotFoundError:
            return
