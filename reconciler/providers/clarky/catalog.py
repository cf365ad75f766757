"""Lookups one Clarky provider instance shares between its read and its writes.

Pipelines, stages and contact ids are fetched once per instance and kept, so an apply that
follows a read sends no lookup the read already made. Choices where the docs are silent:
- A pipeline is named by id or by name (exact, then case-insensitive); two pipelines with the
  same name are an error asking for the id.
- A contact is looked up like Clarky's own upsert matches it: primary email (by-email), or, for
  a phone-only contact, a `search` by phone filtered to the same primary phone.
- Many contacts at once are matched from the contacts list (page_size 100, filtered by the
  pipelines' bot when they share one), stopping at the first page after which nothing is
  missing; when the list turns out longer than the remaining by-email lookups would cost, the
  rest are looked up by email instead.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from reconciler.errors import NotFoundError, PlanError, ValidationFailed
from reconciler.model import Contact, Pipeline
from reconciler.providers._http import VendorClient, list_at, object_at, pages_numbered
from reconciler.providers.clarky.mapping import (listed_total, more_pages, normalize_phone, vendor_primary_email,
                                                vendor_primary_phone)

PAGE = 100
BY_EMAIL_MIN = 5  # up to this many unknown contacts are always looked up one by one


def seg(value: str) -> str:
    """A path segment, escaped."""
    return quote(str(value), safe="")


class Catalog:
    """Pipelines, stages and contact ids of one account, fetched on demand and kept."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client
        self._pipelines: list[dict[str, Any]] | None = None
        self._stages: dict[str, list[dict[str, Any]]] = {}
        self.contact_ids: dict[str, str] = {}  # manifest contact id -> Clarky contact id
        self.absent: set[str] = set()  # manifest contact ids Clarky had no contact for when asked

    # -- pipelines and stages -------------------------------------------------------------------
    def pipelines(self) -> list[dict[str, Any]]:
        if self._pipelines is None:
            self._pipelines = list(pages_numbered(self.client, "/pipelines", {}, size=PAGE, more=more_pages,
                                                  total=listed_total))
        return self._pipelines

    def pipeline(self, pipe: Pipeline) -> dict[str, Any]:
        """The live pipeline `pipe` names; PlanError naming the available ones when there is none."""
        items = self.pipelines()
        found = [p for p in items if p.get("id") == pipe.pipeline] or [p for p in items if p.get("name") == pipe.pipeline]
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
        if pipeline_id not in self._stages:
            path = f"/pipelines/{seg(pipeline_id)}/stages"
            items = list_at(self.client, path, self.client.get(path), "data")
            self._stages[pipeline_id] = sorted(items, key=lambda s: s.get("order_index", 0))
        return self._stages[pipeline_id]

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

    # -- contacts -------------------------------------------------------------------------------
    def lookup(self, contact: Contact) -> str | None:
        """Read-only: the Clarky id of `contact` (remembered), or None when Clarky has none."""
        if contact.id in self.contact_ids or contact.id in self.absent:
            return self.contact_ids.get(contact.id)
        found = self._by_email(contact.primary_email) if contact.primary_email else self._by_phone(contact.primary_phone)
        self.remember(contact.id, found)
        return found

    def remember(self, contact_id: str, remote_id: str | None) -> None:
        """Record what Clarky answered for a manifest contact (None: no such contact yet)."""
        if remote_id:
            self.contact_ids[contact_id] = remote_id
            self.absent.discard(contact_id)
        else:
            self.absent.add(contact_id)

    def _by_email(self, email: str) -> str | None:
        try:
            reply = self.client.get("/contacts/by-email", {"email": email})
        except NotFoundError:  # documented: 404 not_found when no contact has this email
            return None
        return object_at(self.client, "/contacts/by-email", reply, "data").get("id")

    def _by_phone(self, phone: str | None) -> str | None:
        want = normalize_phone(phone)
        if not want:
            return None
        for item in pages_numbered(self.client, "/contacts", {"search": phone}, size=PAGE, more=more_pages,
                                   total=listed_total):
            if vendor_primary_phone(item) == want:
                return item.get("id")
        return None

    def resolve_many(self, contacts: Iterable[Contact], *, bot_id: str | None, card_contacts: int) -> None:
        """Find the Clarky ids of many contacts with as few reads as the numbers allow."""
        todo = [c for c in contacts if c.id not in self.contact_ids and c.id not in self.absent]
        if not todo:
            return
        # Each card has a contact, so the contact list has at least this many pages.
        min_pages = math.ceil(max(card_contacts, len(todo)) / PAGE)
        if all(c.primary_email for c in todo) and len(todo) <= max(BY_EMAIL_MIN, min_pages):
            for contact in todo:
                self.lookup(contact)
            return
        self._match_from_list(todo, bot_id)

    def _match_from_list(self, todo: list[Contact], bot_id: str | None) -> None:
        by_email = {c.primary_email: c for c in todo if c.primary_email}
        by_phone = {normalize_phone(c.primary_phone): c for c in todo if c.primary_phone}
        phone_left = {c.id: c for c in by_phone.values() if not c.primary_email}  # found by phone alone, if at all
        phone_hits: dict[str, str] = {}
        page = 1
        while True:
            reply = self.client.get("/contacts", {"bot_id": bot_id, "page": page, "page_size": PAGE})
            body = reply.json
            for item in list_at(self.client, "/contacts", reply, "data"):
                email, phone = vendor_primary_email(item), vendor_primary_phone(item)
                if email in by_email:
                    self.contact_ids[by_email.pop(email).id] = item["id"]
                elif phone in by_phone:
                    phone_hits.setdefault(by_phone[phone].id, item["id"])
                    phone_left.pop(by_phone[phone].id, None)
            # Only counts per page (the lists are built when leaving): 100k contacts are 1000 pages.
            n_missing = len(by_email) + len(phone_left)
            if not n_missing:
                break
            if not more_pages(body, body.get("data") or [], page):
                self.absent.update(c.id for c in [*by_email.values(), *phone_left.values()] if c.id not in phone_hits)
                break
            pages_left = int((body.get("pagination") or {}).get("total_pages") or 0) - page
            if not phone_left and pages_left > n_missing:
                for contact in list(by_email.values()):  # cheaper one by one than the rest of the list
                    self.lookup(contact)
                break
            page += 1
        for contact_id, remote in phone_hits.items():
            self.contact_ids.setdefault(contact_id, remote)  # the fallback: email matches win
