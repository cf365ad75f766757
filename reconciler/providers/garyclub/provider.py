"""GaryClubProvider: sequences/enrollments and CRM deals over Gary Club's public REST API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from reconciler.errors import ConflictError, NotFoundError, OutcomeUnknown, PlanError, ProviderError, ValidationFailed
from reconciler.model import Blueprint, Card, Contact, DesiredState, Pipeline, ProviderConfig, Sequence
from reconciler.providers._http import VendorClient
from reconciler.providers._paging import pages_cursor
from reconciler.providers._paths import seg
from reconciler.providers.base import Capabilities, CardUpdate, EnrollRequest, EnrollResult, ReadContext
from reconciler.providers.garyclub import _map
from reconciler.providers.garyclub._read import read_snapshot
from reconciler.snapshot import FAILED, FINISHED, LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot
from reconciler.state import utcnow

PAGE = 200  # the documented maximum `limit` of every Gary Club list
CLIENT_KEY_PREFIXES = ("cl_live_", "agent_live_")


@dataclass
class _Roster:
    """One sequence's enrollments by contact id, oldest first, and when they were listed."""

    by_contact: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    read_at: float = 0.0
    pages: int = 1


class GaryClubProvider:
    """A configured Gary Club account (agency key, optionally acting as one client)."""

    capabilities = Capabilities(can_list_memberships=True, can_stop_membership=False, card_kind="deal",
                                can_archive_cards=False, can_delete_cards=False, supports_blueprints=False,
                                enroll_batch_size=1)
    # A roster older than this is listed again before an enrollment POST; scaled by its page count so
    # re-checks never take more than about a tenth of the 60 req/min budget.
    RECHECK_SECONDS = 60.0

    def __init__(self, config: ProviderConfig, api_key: str, *, transport: Any = None, **client_options: Any) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {api_key}"}
        # Agency keys act as one client via the header; a client key with the header is a 400.
        if config.client_id and not api_key.startswith(CLIENT_KEY_PREFIXES):
            headers["X-Gary-Client-Id"] = config.client_id
        self._client = VendorClient.for_provider(config, api_key, headers=headers, transport=transport, **client_options)
        self._sequences: list[Mapping[str, Any]] | None = None
        self._pipelines: list[Mapping[str, Any]] | None = None
        self._contacts: dict[str, str] = {}  # manifest contact id -> Gary contact id
        self._ambiguous: dict[str, str] = {}  # manifest contact id -> why it is not one Gary contact
        self._rosters: dict[str, _Roster] = {}  # Gary sequence id -> enrollments
        self._in_doubt: set[tuple[str, str]] = set()  # (sequence id, contact id) with a lost POST answer
        # find_card/update_card get no ownership tag; the one the last read or create used says "managed".
        self._tag = "campaignctl"

    # -- reading ------------------------------------------------------------------------------
    def read(self, desired: DesiredState, ctx: ReadContext) -> LiveSnapshot:
        self._sequences = self._pipelines = None  # names may have changed since the last read
        self._tag = ctx.ownership_tag
        return read_snapshot(self, desired, ctx)

    def _pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Mapping[str, Any]]:
        for row in pages_cursor(self._client, path, params, limit=PAGE, total=_map.listed_total):
            if isinstance(row, Mapping):
                yield row

    def _sequence_rows(self) -> list[Mapping[str, Any]]:
        if self._sequences is None:
            self._sequences = list(self._pages("/sequences"))
        return self._sequences

    def _pipeline_row(self, pipe: Pipeline) -> Mapping[str, Any]:
        if self._pipelines is None:
            self._pipelines = list(self._pages("/crm/pipelines"))
        row = _map.pick_by_name_or_id(self._pipelines, pipe.pipeline)
        if row is None:
            available = ", ".join(repr(r.get("name")) for r in self._pipelines) or "none"
            raise PlanError(f"{pipe.loc}: provider {self.config.name!r} has no Gary Club pipeline {pipe.pipeline!r} "
                            f"(available: {available})")
        return row

    def _list_contacts(self) -> _map.ContactIndex:
        index = _map.ContactIndex()
        for row in self._pages("/crm/contacts"):
            index.add(row)
        return index

    def _list_deals(self, pipeline_id: str) -> list[Mapping[str, Any]]:
        return list(self._pages("/crm/deals", {"pipeline_id": pipeline_id}))

    def _roster(self, sequence_id: str, *, max_age: float) -> dict[str, list[Mapping[str, Any]]]:
        """Enrollments of a sequence by contact, listed again when older than `max_age` seconds."""
        roster = self._rosters.get(sequence_id)
        if max_age > 0 and roster is not None and time.monotonic() - roster.read_at <= max_age:
            return roster.by_contact
        grouped: dict[str, list[Mapping[str, Any]]] = {}
        count = 0
        for row in self._pages(_enrollments_path(sequence_id)):
            count += 1
            if row.get("contact_id"):
                grouped.setdefault(str(row["contact_id"]), []).append(row)
        by_contact = {cid: _map.order_enrollments(rows) for cid, rows in grouped.items()}
        self._rosters[sequence_id] = _Roster(by_contact, time.monotonic(), max(1, -(-count // PAGE)))
        return by_contact

    def _find_contact(self, contact: Contact) -> str | None:
        """Read-only: the Gary contact id of a manifest contact (known, else matched in the list on every
        email and phone); ConflictError when Gary holds the person ambiguously."""
        self._refuse_ambiguous(contact)
        if contact.id not in self._contacts:
            found = self._list_contacts().matches(contact)
            if len(found) > 1:
                self._ambiguous[contact.id] = (f"contact {contact.id!r} matches {len(found)} Gary Club contacts "
                                               f"({', '.join(sorted(found))}) on its emails and phones")
                self._refuse_ambiguous(contact)
            if not found:
                return None
            self._contacts[contact.id] = next(iter(found))
        return self._contacts[contact.id]

    def _refuse_ambiguous(self, contact: Contact) -> None:
        if contact.id in self._ambiguous:
            raise ConflictError(self.config.name, "GET", "/crm/contacts", None,
                                f"{self._ambiguous[contact.id]}; nothing is sent to this person until Gary Club "
                                "holds them once", code="ambiguous_contact")

    def _ensure_contact(self, contact: Contact) -> str:
        """The Gary contact id, upserting the contact only when its id is not known yet."""
        self._refuse_ambiguous(contact)
        if contact.id in self._contacts:
            return self._contacts[contact.id]
        # POST /v1/crm/contacts is a documented idempotent upsert by email or phone: safe to retry.
        reply = self._client.write("POST", "/crm/contacts", json=_map.contact_body(contact), idempotent=True)
        row = _map.unwrap(reply.json, "contact", "data")
        if not row.get("id"):
            raise ProviderError(self.config.name, "POST", "/crm/contacts", reply.status, "the contact upsert answered without an id",
                                request_id=reply.request_id)
        self._contacts[contact.id] = str(row["id"])
        return self._contacts[contact.id]

    # -- enrollments ----------------------------------------------------------------------------
    def enroll(self, sequence: Sequence, batch: list[EnrollRequest]) -> list[EnrollResult]:
        return [self._enroll_one(sequence, request) for request in batch]

    def _enroll_one(self, seq: Sequence, request: EnrollRequest) -> EnrollResult:
        addr = request.membership.address
        try:
            seq_row = self._sequence(seq)
            path = _enrollments_path(str(seq_row["id"]))
            status = str(seq_row.get("status") or "active")
            if status != "active":  # only an active sequence takes enrollments
                raise ValidationFailed(self.config.name, "POST", path, None, f"sequence {seq_row.get('name')!r} is "
                                       f"{status}; activate it in Gary Club first (nothing was sent)", code="sequence_not_active")
            if request.contact is None:
                raise ValidationFailed(self.config.name, "POST", path, None, f"{addr}: member is not a manifest contact")
            contact_id = self._ensure_contact(request.contact)
            refusal = self._refusal(str(seq_row["id"]), contact_id, request.attempt)
            if refusal:
                raise ConflictError(self.config.name, "POST", path, None, f"{refusal}; not posting, "
                                    "since a new enrollment would send the ladder again (re-plan)", code="already_enrolled")
            body: dict[str, Any] = {"contact_id": contact_id}
            if seq.metadata:
                body["metadata"] = dict(seq.metadata)
            try:
                reply = self._client.write("POST", path, json=body, idempotent=False)
            except OutcomeUnknown:
                self._in_doubt.add((str(seq_row["id"]), contact_id))
                raise
        except ProviderError as exc:
            return EnrollResult(addr, error=exc, request_id=exc.request_id)
        row = _map.unwrap(reply.json, "enrollment", "data")
        roster = self._rosters.get(str(seq_row["id"]))  # always listed by _refusal just before
        history = roster.by_contact.setdefault(contact_id, []) if roster else []
        if not any(r.get("id") == row.get("id") for r in history):
            history.append(row)
        else:  # idempotent: the existing active row came back, nothing new was sent
            history[:] = [row if r.get("id") == row.get("id") else r for r in history]
        return EnrollResult(addr, live=_map.to_membership(addr, history, utcnow()), request_id=reply.request_id)

    def _refusal(self, sequence_id: str, contact_id: str, attempt: int) -> str | None:
        """Why posting now could send twice (None: safe). Gary dedupes only ACTIVE enrollments."""
        if (sequence_id, contact_id) in self._in_doubt:
            return "an earlier enrollment POST for this contact has an unknown outcome"
        roster = self._rosters.get(sequence_id)
        max_age = self.RECHECK_SECONDS * max(1.0, (roster.pages if roster else 1) / 6.0)
        history = self._roster(sequence_id, max_age=max_age).get(contact_id, [])
        if not history:
            return None if attempt == 0 else f"expected {attempt} earlier enrollment(s), found none"
        latest = history[-1]
        status, _ = _map.map_status(latest.get("status"))
        if attempt == 0 or status not in (FINISHED, FAILED):
            return f"the contact already has an enrollment in this sequence ({latest.get('id')}, {latest.get('status')})"
        if len(history) != attempt:
            return f"expected {attempt} earlier enrollment(s), found {len(history)}"
        return None

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None) -> LiveMembership | None:
        """Read-only: list the sequence's enrollments now; Gary creates them synchronously, so absent is certain."""
        addr = request.membership.address
        seq_id = str(self._sequence(sequence)["id"])
        contact_id = self._find_contact(request.contact) if request.contact else None
        if contact_id is None:
            return None  # no contact, so no enrollment can exist
        history = self._roster(seq_id, max_age=0.0).get(contact_id, [])
        self._in_doubt.discard((seq_id, contact_id))
        if not history or len(history) - 1 < request.attempt:
            return None
        return _map.to_membership(addr, history, utcnow())

    def _sequence(self, seq: Sequence) -> Mapping[str, Any]:
        row = _map.pick_by_name_or_id(self._sequence_rows(), seq.target)
        if row is None:
            raise NotFoundError(self.config.name, "GET", "/sequences", None, f"no sequence named {seq.target!r}")
        return row

    # -- deals --------------------------------------------------------------------------------
    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str) -> LiveCard:
        self._tag = ownership_tag
        row = self._pipeline_row(pipeline)
        stages = _map.stages_of(row)
        body: dict[str, Any] = {
            "name": card.title, "pipeline_id": str(row["id"]), "stage_id": self._stage_id(pipeline, stages, card.stage),
            "primary_contact_id": self._ensure_contact(contact),
            "tags": sorted(set(card.tags) | {ownership_tag}),
        }
        if card.description:
            body["description"] = card.description
        # Deal creation has no idempotency key: a lost answer is OutcomeUnknown, resolved by find_card.
        reply = self._client.write("POST", "/crm/deals", json=body, idempotent=False)
        return _map.to_card(card.address, _map.unwrap(reply.json, "deal", "data"), dict(stages), ownership_tag)

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact) -> LiveCard | None:
        row = self._pipeline_row(pipeline)
        contact_id = self._find_contact(contact)
        if contact_id is None:
            return None
        tag = self._tag
        deals = [d for d in self._list_deals(str(row["id"])) if _map.deal_contact(d) == contact_id]
        if not deals:
            return None
        deals.sort(key=lambda d: tag not in _map.deal_tags(d))  # a managed deal first
        return _map.to_card(card.address, deals[0], dict(_map.stages_of(row)), tag)

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate) -> LiveCard:
        path = f"/crm/deals/{seg(live.remote_id)}"
        if update.archived:
            raise self._unsupported("PATCH", path, "Gary Club documents no way to archive a deal; archive it in the UI")
        row = self._pipeline_row(pipeline)
        stages = _map.stages_of(row)
        body: dict[str, Any] = {}
        if update.title is not None:
            body["name"] = update.title
        if update.description is not None:
            body["description"] = update.description or None  # "" clears: null on the wire
        if update.tags is not None:
            body["tags"] = list(update.tags)
        if update.stage is not None:
            body["stage_id"] = self._stage_id(pipeline, stages, update.stage)
        if not body:
            return live
        # A PATCH to target values is idempotent by construction: safe to retry.
        reply = self._client.write("PATCH", path, json=body, idempotent=True)
        return _map.to_card(live.address, _map.unwrap(reply.json, "deal", "data"), dict(stages), self._tag)

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        raise self._unsupported("DELETE", f"/crm/deals/{seg(live.remote_id)}",
                                "Gary Club documents no way to delete a deal; delete it in the UI")

    def _stage_id(self, pipeline: Pipeline, stages: list[tuple[str, str]], name: str) -> str:
        for stage_id, stage_name in stages:
            if stage_name == name or stage_id == name:
                return stage_id
        raise ValidationFailed(self.config.name, "GET", "/crm/pipelines", None,
                               f"pipeline {pipeline.pipeline!r} has no stage {name!r} "
                               f"(its stages: {', '.join(n for _, n in stages)})", code="unknown_stage")

    # -- blueprints (Kalent only) ---------------------------------------------------------------
    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        raise self._unsupported("POST", "/blueprints", "Gary Club has no sequence blueprints (they are a Kalent feature)")

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        raise self._unsupported("GET", "/blueprints", "Gary Club has no sequence blueprints (they are a Kalent feature)")

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        raise self._unsupported("PATCH", "/blueprints", "Gary Club has no sequence blueprints (they are a Kalent feature)")

    # -- plumbing -------------------------------------------------------------------------------
    def _unsupported(self, method: str, path: str, message: str) -> ProviderError:
        return ProviderError(self.config.name, method, path, None, message, code="unsupported")

    def request_counts(self) -> dict[str, int]:
        return dict(self._client.counts)

    def close(self) -> None:
        self._client.close()


def _enrollments_path(sequence_id: str) -> str:
    return f"/sequences/{seg(sequence_id)}/enrollments"

