"""GaryClubProvider: sequences/enrollments and CRM deals over Gary Club's public REST API.

Base `https://agency.gary.club/api/public/v1`, `Authorization: Bearer <key>`; with an agency key
(`gc_live_…`) and `client_id` configured, `X-Gary-Client-Id` acts as that client (never sent with
a client key, which the API answers with 400). Every list is cursor-paged at limit 200.

Choices where the documentation is silent:
- Contacts are listed once per read (only when a needed contact's id is not cached) and matched by
  primary email, then phone: the list's documented filters (`q`, `lifecycle`, `owner`) cannot
  look a contact up by email, so per-contact lookups would cost more than the list.
- Enrollments are listed per sequence (no contact filter is documented) and grouped by contact;
  the latest wins and `attempt` counts the earlier ones. Statuses: active/waiting -> active,
  paused -> paused (reason `paused_reason`), completed/cancelled -> finished, failed -> failed;
  an unknown word -> active with a warning, because active is never re-enrolled.
- The enrollment POST dedupes only ACTIVE enrollments, so it is treated as non-idempotent: a lost
  answer is OutcomeUnknown, and no POST is sent for a contact with an enrollment in any status
  (or with an unresolved lost POST) unless it is a deliberate next attempt after a finished or
  failed one. Before each POST the sequence's enrollment list is re-read when the copy is older
  than 60 s (scaled with its size, to stay within ~10% of the 60 req/min budget); within that
  window the plan's freshly checked precondition is trusted.
- The ownership tag lives in the deal's documented `tags` field. Gary documents no deal archive
  or delete, so both capabilities are off and those calls raise a clear `unsupported` error;
  deals never read back as archived. `description: ""` clears with null on the wire.
- A sequence that is not `active` (draft, paused, archived) is a plan warning, and enrollments
  into it are refused before any request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from reconciler.errors import ConflictError, NotFoundError, OutcomeUnknown, ProviderError, ValidationFailed
from reconciler.model import Card, Contact, DesiredState, Pipeline, ProviderConfig, Sequence
from reconciler.providers.base import BaseProvider, Capabilities, CardUpdate, EnrollRequest, EnrollResult
from reconciler.providers.garyclub import _mapping, _read
from reconciler.providers.garyclub._client import CONTACTS, Catalog, Writer, deal_path, enrollments_path
from reconciler.providers.garyclub._read import GarySeen
from reconciler.providers.garyclub.spec import GaryClubConfig
from reconciler.read_input import ReadInput
from reconciler.snapshot import FAILED, FINISHED, LiveCard, LiveMembership, LiveSnapshot
from reconciler.timeutil import utcnow

CLIENT_KEY_PREFIXES = ("cl_live_", "agent_live_")


class GaryClubProvider(BaseProvider):
    """A configured Gary Club account (agency key, optionally acting as one client)."""

    capabilities = Capabilities(can_list_memberships=True, can_stop_membership=False, card_kind="deal",
                                can_archive_cards=False, can_delete_cards=False, supports_blueprints=False,
                                enroll_batch_size=1)
    # A roster older than this is listed again before an enrollment POST; scaled by its page count so
    # re-checks never take more than about a tenth of the 60 req/min budget.
    RECHECK_SECONDS = 60.0

    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "blueprints": "Gary Club has no sequence blueprints (they are a Kalent feature)",
        "archive": "Gary Club documents no way to archive a deal; archive it in the UI",
        "delete": "Gary Club documents no way to delete a deal; delete it in the UI",
    }

    def __init__(self, config: ProviderConfig, api_key: str, **options: Any) -> None:
        super().__init__(GaryClubConfig.of(config), api_key, **options)
        self.config: GaryClubConfig = GaryClubConfig.of(config)
        self.catalog = Catalog(self.client)
        self.writer = Writer(self.client)
        self._in_doubt: set[tuple[str, str]] = set()  # (sequence id, contact id) with a lost POST answer
        # find_card/update_card get no ownership tag; the one the last read or create used says "managed".
        self.ownership_tag = "campaignctl"

    def auth_headers(self, config: ProviderConfig, api_key: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {api_key}"}
        # Agency keys act as one client via the header; a client key with the header is a 400.
        client_id = GaryClubConfig.of(config).client_id
        if client_id and not api_key.startswith(CLIENT_KEY_PREFIXES):
            headers["X-Gary-Client-Id"] = client_id
        return headers

    # -- reading ------------------------------------------------------------------------------
    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        """Through a catalog of the read's own: what the writes need goes into `snap.seen` (GarySeen)."""
        return _read.read(self.config.name, Catalog(self.client), self.clock, desired, given)

    def _catalog(self, seen: GarySeen | None) -> Catalog:
        """Lookups for a write: on what the read handed back found (and the writes since added), through
        this provider's own client; else this provider's own catalog (filled on demand)."""
        return Catalog(self.client, seen.known) if seen is not None else self.catalog

    def _tag_of(self, seen: GarySeen | None) -> str:
        return seen.ownership_tag if seen is not None else self.ownership_tag

    def _ensure_contact(self, contact: Contact, cat: Catalog) -> str:
        """The Gary contact id, upserting the contact only when its id is not known yet."""
        cat.refuse_ambiguous(contact)
        if contact.id in cat.contact_ids:
            return cat.contact_ids[contact.id]
        # POST /v1/crm/contacts is a documented idempotent upsert by email or phone: safe to retry.
        reply = self.writer.upsert_contact(_mapping.contact_body(contact))
        row = _mapping.unwrap(reply.json, "contact", "data")
        if not row.get("id"):
            raise ProviderError(self.config.name, "POST", CONTACTS, reply.status,
                                "the contact upsert answered without an id", request_id=reply.request_id)
        cat.contact_ids[contact.id] = str(row["id"])
        return cat.contact_ids[contact.id]

    # -- enrollments ----------------------------------------------------------------------------
    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *,
               seen: GarySeen | None = None) -> list[EnrollResult]:
        cat = self._catalog(seen)
        return [self._enroll_one(sequence, request, cat) for request in batch]

    def _enroll_one(self, seq: Sequence, request: EnrollRequest, cat: Catalog) -> EnrollResult:
        addr = request.membership.address
        try:
            seq_row = self._sequence(seq, cat)
            path = enrollments_path(str(seq_row["id"]))
            status = str(seq_row.get("status") or "active")
            if status != "active":  # only an active sequence takes enrollments
                raise ValidationFailed(self.config.name, "POST", path, None,
                                       f"sequence {seq_row.get('name')!r} is {status}; activate it in Gary Club "
                                       "first (nothing was sent)", code="sequence_not_active")
            if request.contact is None:
                raise ValidationFailed(self.config.name, "POST", path, None,
                                       f"{addr}: member is not a manifest contact")
            contact_id = self._ensure_contact(request.contact, cat)
            refusal = self._refusal(str(seq_row["id"]), contact_id, request.attempt, cat)
            if refusal:
                raise ConflictError(self.config.name, "POST", path, None,
                                    f"{refusal}; not posting, since a new enrollment would send the ladder again "
                                    "(re-plan)", code="already_enrolled")
            body: dict[str, Any] = {"contact_id": contact_id}
            if seq.metadata:
                body["metadata"] = dict(seq.metadata)
            try:
                reply = self.writer.enroll(str(seq_row["id"]), body)
            except OutcomeUnknown:
                self._in_doubt.add((str(seq_row["id"]), contact_id))
                raise
        except ProviderError as exc:
            return EnrollResult(addr, error=exc, request_id=exc.request_id)
        row = _mapping.unwrap(reply.json, "enrollment", "data")
        roster = cat.rosters.get(str(seq_row["id"]))  # always listed by _refusal just before
        history = roster.by_contact.setdefault(contact_id, []) if roster else []
        if not any(r.get("id") == row.get("id") for r in history):
            history.append(row)
        else:  # idempotent: the existing active row came back, nothing new was sent
            history[:] = [row if r.get("id") == row.get("id") else r for r in history]
        return EnrollResult(addr, live=_mapping.to_membership(addr, history, utcnow(self.clock)),
                            request_id=reply.request_id)

    def _refusal(self, sequence_id: str, contact_id: str, attempt: int, cat: Catalog) -> str | None:
        """Why posting now could send twice (None: safe). Gary dedupes only ACTIVE enrollments."""
        if (sequence_id, contact_id) in self._in_doubt:
            return "an earlier enrollment POST for this contact has an unknown outcome"
        roster = cat.rosters.get(sequence_id)
        max_age = self.RECHECK_SECONDS * max(1.0, (roster.pages if roster else 1) / 6.0)
        history = cat.roster(sequence_id, max_age=max_age).get(contact_id, [])
        if not history:
            return None if attempt == 0 else f"expected {attempt} earlier enrollment(s), found none"
        latest = history[-1]
        if attempt == 0 or _mapping.to_status(latest).status not in (FINISHED, FAILED):
            return (f"the contact already has an enrollment in this sequence "
                    f"({latest.get('id')}, {latest.get('status')})")
        if len(history) != attempt:
            return f"expected {attempt} earlier enrollment(s), found {len(history)}"
        return None

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: GarySeen | None = None) -> LiveMembership | None:
        """Read-only: list the sequence's enrollments now; Gary creates them synchronously, so absent is certain."""
        addr = request.membership.address
        cat = self._catalog(seen)
        seq_id = str(self._sequence(sequence, cat)["id"])
        contact_id = cat.lookup(request.contact) if request.contact else None
        if contact_id is None:
            return None  # no contact, so no enrollment can exist
        history = cat.roster(seq_id, max_age=0.0).get(contact_id, [])
        self._in_doubt.discard((seq_id, contact_id))
        if not history or len(history) - 1 < request.attempt:
            return None
        return _mapping.to_membership(addr, history, utcnow(self.clock))

    def _sequence(self, seq: Sequence, cat: Catalog) -> Mapping[str, Any]:
        row = _mapping.pick_by_name_or_id(cat.sequences(), seq.target)
        if row is None:
            raise NotFoundError(self.config.name, "GET", "/sequences", None, f"no sequence named {seq.target!r}")
        return row

    # -- deals --------------------------------------------------------------------------------
    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str, *,
                    seen: GarySeen | None = None) -> LiveCard:
        self.ownership_tag = ownership_tag
        cat = self._catalog(seen)
        row = cat.pipeline(pipeline)
        stages = _mapping.stages_of(row)
        body: dict[str, Any] = {
            "name": card.title, "pipeline_id": str(row["id"]), "stage_id": self._stage_id(pipeline, stages, card.stage),
            "primary_contact_id": self._ensure_contact(contact, cat),
            "tags": sorted(set(card.tags) | {ownership_tag}),
        }
        if card.description:
            body["description"] = card.description
        # Deal creation has no idempotency key: a lost answer is OutcomeUnknown, resolved by find_card.
        reply = self.writer.create_deal(body)
        return _mapping.to_card(card.address, _mapping.unwrap(reply.json, "deal", "data"), dict(stages), ownership_tag)

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact, *,
                  seen: GarySeen | None = None) -> LiveCard | None:
        cat = self._catalog(seen)
        row = cat.pipeline(pipeline)
        contact_id = cat.lookup(contact)
        if contact_id is None:
            return None
        tag = self._tag_of(seen)
        deals = [d for d in cat.deals(str(row["id"])) if _mapping.deal_contact(d) == contact_id]
        if not deals:
            return None
        deals.sort(key=lambda d: tag not in _mapping.deal_tags(d))  # a managed deal first
        return _mapping.to_card(card.address, deals[0], dict(_mapping.stages_of(row)), tag)

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate, *,
                    seen: GarySeen | None = None) -> LiveCard:
        path = deal_path(live.remote_id)
        if update.archived:
            raise self.unsupported("archive", live, method="PATCH", path=path)
        row = self._catalog(seen).pipeline(pipeline)
        stages = _mapping.stages_of(row)
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
        reply = self.writer.update_deal(live.remote_id, body)
        return _mapping.to_card(live.address, _mapping.unwrap(reply.json, "deal", "data"), dict(stages),
                                self._tag_of(seen))

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        raise self.unsupported("delete", live, method="DELETE", path=deal_path(live.remote_id))

    def _stage_id(self, pipeline: Pipeline, stages: list[tuple[str, str]], name: str) -> str:
        for stage_id, stage_name in stages:
            if stage_name == name or stage_id == name:
                return stage_id
        raise ValidationFailed(self.config.name, "GET", "/crm/pipelines", None,
                               f"pipeline {pipeline.pipeline!r} has no stage {name!r} "
                               f"(its stages: {', '.join(n for _, n in stages)})", code="unknown_stage")
