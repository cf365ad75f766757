"""Gary Club's HTTP requests: the lookups (`Catalog`) and the writes (`Writer`), which only send and
return the answer.

What the lookups found (sequences, pipelines, contact ids, who is held ambiguously, enrollment rosters)
is data, `Known`: a read's travels to the writes in `GarySeen.known`, and a write handed it works on it
through its own provider's client, never through the client of the instance that read.

Every list is cursor-paged at the documented maximum (200). Sequences and pipelines are listed
once per read; contacts are listed (never looked up one by one: the documented filters cannot
find a contact by email) and matched on every email and phone; each sequence's enrollments are
listed and grouped by contact, and listed again when a write needs a fresher copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import ConflictError, PlanError
from reconciler.model import Contact, Pipeline
from reconciler.providers._http import Reply, VendorClient
from reconciler.providers._paging import pages_cursor
from reconciler.providers._paths import seg
from reconciler.providers.garyclub._mapping import (
    ContactIndex,
    compact_enrollment,
    listed_total,
    order_enrollments,
    pick_by_name_or_id,
)

PAGE = 200  # the documented maximum `limit` of every Gary Club list
CONTACTS = "/crm/contacts"
DEALS = "/crm/deals"


def enrollments_path(sequence_id: str) -> str:
    return f"/sequences/{seg(sequence_id)}/enrollments"


def deal_path(deal_id: str) -> str:
    return f"{DEALS}/{seg(deal_id)}"


@dataclass
class Roster:
    """One sequence's enrollments by contact id, oldest first (each row only what the status mapping
    reads: `_mapping.compact_enrollment`), and when they were listed."""

    by_contact: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    read_at: float = 0.0
    pages: int = 1


@dataclass
class Known:
    """What one account's lookups found, kept as data (no client). A read's goes into its `seen`; the
    writes handed that read work on it and add what they learn (a contact they upserted, an enrollment
    they posted), whichever provider instance runs them."""

    sequences: list[Mapping[str, Any]] | None = None
    pipelines: list[Mapping[str, Any]] | None = None
    contact_ids: dict[str, str] = field(default_factory=dict)  # manifest contact id -> Gary contact id
    ambiguous: dict[str, str] = field(default_factory=dict)  # manifest contact id -> why it is not one Gary contact
    rosters: dict[str, Roster] = field(default_factory=dict)  # Gary sequence id -> enrollments


class Catalog:
    """Lookups of one account through `client`, kept in `known` (a fresh `Known` unless given one)."""

    def __init__(self, client: VendorClient, known: Known | None = None) -> None:
        self.client = client
        self.known = known if known is not None else Known()
        self.contact_ids = self.known.contact_ids
        self.ambiguous = self.known.ambiguous
        self.rosters = self.known.rosters

    def forget_names(self) -> None:
        """Sequences and pipelines are listed again: their names may have changed since the last read."""
        self.known.sequences = self.known.pipelines = None

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Mapping[str, Any]]:
        """Every row of a cursor-paged list."""
        for row in pages_cursor(self.client, path, params, limit=PAGE, total=listed_total):
            if isinstance(row, Mapping):
                yield row

    # -- sequences and pipelines ------------------------------------------------------------------
    def sequences(self) -> list[Mapping[str, Any]]:
        if self.known.sequences is None:
            self.known.sequences = list(self.pages("/sequences"))
        return self.known.sequences

    def pipelines(self) -> list[Mapping[str, Any]]:
        if self.known.pipelines is None:
            self.known.pipelines = list(self.pages("/crm/pipelines"))
        return self.known.pipelines

    def pipeline(self, pipe: Pipeline) -> Mapping[str, Any]:
        """The live pipeline `pipe` names (id or name); PlanError naming the available ones."""
        rows = self.pipelines()
        row = pick_by_name_or_id(rows, pipe.pipeline)
        if row is None:
            available = ", ".join(repr(r.get("name")) for r in rows) or "none"
            raise PlanError(f"{pipe.loc}: provider {self.client.vendor!r} has no Gary Club pipeline "
                            f"{pipe.pipeline!r} (available: {available})")
        return row

    # -- contacts -------------------------------------------------------------------------------
    def contacts(self) -> ContactIndex:
        """The whole contact list, indexed by every email and phone."""
        index = ContactIndex()
        for row in self.pages("/crm/contacts"):
            index.add(row)
        return index

    def lookup(self, contact: Contact) -> str | None:
        """Read-only: the Gary contact id of a manifest contact (known, else matched in the list on every
        email and phone); ConflictError when Gary holds the person ambiguously."""
        self.refuse_ambiguous(contact)
        if contact.id not in self.contact_ids:
            found = self.contacts().matches(contact)
            if len(found) > 1:
                self.ambiguous[contact.id] = (f"contact {contact.id!r} matches {len(found)} Gary Club contacts "
                                              f"({', '.join(sorted(found))}) on its emails and phones")
                self.refuse_ambiguous(contact)
            if not found:
                return None
            self.contact_ids[contact.id] = next(iter(found))
        return self.contact_ids[contact.id]

    def refuse_ambiguous(self, contact: Contact) -> None:
        """ConflictError when `contact` is held ambiguously: nothing is sent to that person."""
        if contact.id in self.ambiguous:
            raise ConflictError(self.client.vendor, "GET", "/crm/contacts", None,
                                f"{self.ambiguous[contact.id]}; nothing is sent to this person until Gary Club "
                                "holds them once", code="ambiguous_contact")

    # -- deals and enrollments --------------------------------------------------------------------
    def deals(self, pipeline_id: str) -> list[Mapping[str, Any]]:
        return list(self.pages("/crm/deals", {"pipeline_id": pipeline_id}))

    def enrollments(self, sequence_id: str) -> Iterator[Mapping[str, Any]]:
        return self.pages(enrollments_path(sequence_id))

    def roster(self, sequence_id: str, *, max_age: float) -> dict[str, list[Mapping[str, Any]]]:
        """Enrollments of a sequence by contact, listed again when older than `max_age` seconds."""
        roster = self.rosters.get(sequence_id)
        if max_age > 0 and roster is not None and time.monotonic() - roster.read_at <= max_age:
            return roster.by_contact
        grouped: dict[str, list[Mapping[str, Any]]] = {}
        count = 0
        for row in self.enrollments(sequence_id):
            count += 1
            if row.get("contact_id"):
                grouped.setdefault(str(row["contact_id"]), []).append(compact_enrollment(row))
        by_contact = {cid: order_enrollments(rows) for cid, rows in grouped.items()}
        self.rosters[sequence_id] = Roster(by_contact, time.monotonic(), max(1, -(-count // PAGE)))
        return by_contact


class Writer:
    """Gary Club's writes: each sends one request and returns the answer; what to send and what the
    answer means is the provider's business. Retries follow `VendorClient.write`."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client

    def upsert_contact(self, body: dict[str, Any]) -> Reply:
        """POST /crm/contacts: a documented idempotent upsert by email or phone, so it is retried."""
        return self.client.write("POST", CONTACTS, json=body, idempotent=True)

    def enroll(self, sequence_id: str, body: dict[str, Any]) -> Reply:
        """POST an enrollment. Gary dedupes only ACTIVE enrollments, so it is not idempotent: a lost
        answer is OutcomeUnknown, never re-sent."""
        return self.client.write("POST", enrollments_path(sequence_id), json=body, idempotent=False)

    def create_deal(self, body: dict[str, Any]) -> Reply:
        """POST /crm/deals: no idempotency key, so a lost answer is OutcomeUnknown (settled by find_card)."""
        return self.client.write("POST", DEALS, json=body, idempotent=False)

    def update_deal(self, deal_id: str, body: dict[str, Any]) -> Reply:
        """PATCH to target values: idempotent by construction, so it is retried."""
        return self.client.write("PATCH", deal_path(deal_id), json=body, idempotent=True)
