"""ClarkyProvider: sequences/start enrollments and pipeline cards over Clarky's REST API.

Choices where the seed documents are silent:
- Every start is keyed (_mapping.idempotency_key) on Clarky's own contact id, resolved before the
  start on every email and phone the contact has; a person Clarky does not know yet is created
  first (POST /contacts, which sends nothing, with the notes). So the key survives identity edits,
  renames and a lost state, and the start carries no notes: it is idempotent and is retried.
  Its body puts the primary email Clarky holds for that contact first, so Clarky's upsert (primary
  email, then phone) lands on the contact the key names.
- `resolve_enrollment` replays the start with the same key (Clarky answers a reused key with the
  original enrollment, so it cannot send twice), then reads its status. That replay is the one
  write a resolve makes; if the lost start never arrived, it is the start. No Clarky contact at
  all means no start arrived.
- `bot_id` is "required only if the template has no bot_id", and sending one may change the
  sender, so the provider's `bot_id` is not sent up front: a sequence's own `bot_id` always is;
  otherwise a 400 asking for a bot_id (nothing created) is answered once with the provider's
  `bot_id`, and the template is remembered for the rest of this instance.
- A card is created for the Clarky contact found on any of the contact's emails and phones, or
  one created with POST /contacts under the pipeline's bot. Before creating, the cards the read
  listed (or, without a read, a list filtered by contact) are checked, so a card the read could
  not attribute is never duplicated: a managed one is returned, an untagged one is a conflict.
- PATCH and DELETE set target values, so they are retried; DELETE of a gone card is done.
- A write matches people on what the read it is handed found (`ClarkySeen.known`: contact ids,
  who is held ambiguously, primary emails) and adds what it learns there (a contact it created), so
  every write of one apply, on any provider instance, sees one person as one Clarky contact. Without
  a read it asks Clarky on this instance's own catalog; it never relies on a read it was not handed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from reconciler.errors import ConflictError, NotFoundError, OutcomeUnknown, ProviderError, ValidationFailed
from reconciler.model import Card, Contact, DesiredState, Pipeline, ProviderConfig, Sequence
from reconciler.providers._http import Reply
from reconciler.providers.base import BaseProvider, Capabilities, CardUpdate, EnrollRequest, EnrollResult
from reconciler.providers.clarky import _read
from reconciler.providers.clarky._client import CARDS, CONTACTS, START, Catalog, Writer, card_path
from reconciler.providers.clarky._mapping import (
    best_card,
    contact_fields,
    start_body,
    to_card,
    to_membership,
)
from reconciler.providers.clarky.spec import ClarkyConfig
from reconciler.read_input import ReadInput
from reconciler.snapshot import LiveCard, LiveMembership, LiveSnapshot
from reconciler.timeutil import utcnow

log = logging.getLogger(__name__)


class ClarkyProvider(BaseProvider):
    """One Clarky workspace (API key)."""

    capabilities = Capabilities(can_list_memberships=False, can_stop_membership=False, card_kind="card",
                                can_archive_cards=True, can_delete_cards=True, supports_blueprints=False,
                                enroll_batch_size=1)
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "blueprints": "Clarky has no sequence blueprints (templates are made in the Clarky UI); declare blueprints "
                      "for a kalent provider",
    }

    def __init__(self, config: ProviderConfig, api_key: str, **options: Any) -> None:
        super().__init__(ClarkyConfig.of(config), api_key, **options)
        self.config: ClarkyConfig = ClarkyConfig.of(config)
        self.catalog = Catalog(self.client)
        self.writer = Writer(self.client)
        self.ownership_tag = "campaignctl"
        self._needs_bot: set[str] = set()  # templates that answered "no bot_id"

    def auth_headers(self, config: ProviderConfig, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    # -- read -----------------------------------------------------------------------------------
    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        """Memberships from the state (re-read when stale), cards from the pipeline-card lists."""
        return _read.read(self, desired, given)

    def _catalog(self, seen: _read.ClarkySeen | None) -> Catalog:
        """Lookups for a write: on what the read handed back found (and the writes since added), else on
        this provider's own catalog, which asks the vendor what it does not know yet."""
        return Catalog(self.client, seen.known) if seen is not None else self.catalog

    # -- enrollments ----------------------------------------------------------------------------
    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *,
               seen: _read.ClarkySeen | None = None) -> list[EnrollResult]:
        """One keyed start per member; errors (OutcomeUnknown included) are returned, not raised."""
        cat = self._catalog(seen)
        return [self._enroll_one(sequence, request, cat) for request in batch]

    def _enroll_one(self, sequence: Sequence, request: EnrollRequest, cat: Catalog) -> EnrollResult:
        address = request.membership.address
        try:
            contact = self._member_contact(request)
            remote_id, vendor_email = self._person(contact, sequence.setting("bot_id"), create=True, cat=cat)
            assert remote_id is not None  # create=True finds or creates the contact
            reply = self._start(sequence, contact, request.attempt, remote_id, vendor_email)
        except ProviderError as exc:
            return EnrollResult(address, error=exc, request_id=exc.request_id)
        data = (reply.json or {}).get("data") if isinstance(reply.json, dict) else None
        if not isinstance(data, dict) or not (data.get("enrollment_id") or data.get("id")):
            # Accepted, but the answer names no enrollment: it may exist; the keyed replay settles it.
            err = OutcomeUnknown(self.config.name, "POST", START, reply.status,
                                 "the start was answered without the documented data.enrollment_id; "
                                 "settled by replaying its idempotency key", request_id=reply.request_id)
            return EnrollResult(address, error=err, request_id=reply.request_id)
        if data.get("contact_id") and data["contact_id"] != remote_id:
            log.warning("%s: Clarky started contact %s, not %s as resolved", address, data["contact_id"], remote_id)
        enrollment_id = data.get("enrollment_id") or data.get("id")
        if data.get("status") == "failed" and enrollment_id:
            # The start answer carries no generation_error; a failed enrollment is final and never
            # re-read, so read its reason now (no_usable_channels must plan `skip`, not `retry`).
            try:
                data = {**data, **cat.enrollment(enrollment_id)}
            except ProviderError:
                pass  # the enrollment exists either way; the reason stays unknown
        live = to_membership(address, data, attempt=request.attempt, observed_at=utcnow(self.clock),
                                   since=utcnow(self.clock))
        return EnrollResult(address, live=live, request_id=reply.request_id)

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: _read.ClarkySeen | None = None) -> LiveMembership | None:
        """Replay the keyed start (returns the original; cannot send twice), then read it. No Clarky
        contact means no start ever arrived: the contact is created before its first start."""
        cat = self._catalog(seen)
        contact = self._member_contact(request)
        remote_id, vendor_email = self._person(contact, sequence.setting("bot_id"), create=False, cat=cat)
        if remote_id is None:
            return None
        reply = self._start(sequence, contact, request.attempt, remote_id, vendor_email)
        data = (reply.json or {}).get("data") or {}
        enrollment_id = data.get("enrollment_id") or data.get("id")
        if not enrollment_id:
            raise OutcomeUnknown(self.config.name, "POST", START, reply.status, "the replay named no enrollment",
                                 request_id=reply.request_id)
        status = cat.enrollment(enrollment_id)
        return to_membership(request.membership.address, status, attempt=request.attempt,
                                   observed_at=utcnow(self.clock), since=sent_at)

    def _member_contact(self, request: EnrollRequest) -> Contact:
        if request.contact is None or not (request.contact.emails or request.contact.phone_numbers):
            raise ValidationFailed(self.config.name, "POST", START, None,
                                   f"{request.membership.address}: a Clarky member needs a manifest contact with an "
                                   "email or a phone number", code="no_contact")
        return request.contact

    def _person(self, contact: Contact, bot_id: str | None, *, create: bool,
                cat: Catalog) -> tuple[str | None, str | None]:
        """(Clarky's id of this person, the primary email Clarky holds for them), resolved before a start
        because the start's key is that id. With `create`, a person Clarky does not know yet is created
        first (a contact sends nothing) and carries the contact's notes; otherwise (None, None)."""
        cat.confirm(contact)
        remote_id = cat.lookup(contact)
        if remote_id is not None:
            try:
                return remote_id, cat.vendor_email(remote_id)
            except NotFoundError:  # a remembered id Clarky no longer has (deleted or merged): match afresh
                cat.forget(contact.id)
                remote_id = cat.lookup(contact)
                if remote_id is not None:
                    return remote_id, cat.vendor_email(remote_id)
        if not create:
            return None, None
        remote_id = self._contact_for_card(contact, bot_id or self.config.bot_id, cat)
        return remote_id, cat.vendor_email(remote_id)

    def _start(self, sequence: Sequence, contact: Contact, attempt: int, remote_id: str,
               vendor_email: str | None) -> Reply:
        """POST /sequences/start keyed on the Clarky contact id; it carries no notes (the contact got them
        when it was created), so it is idempotent and retried."""
        bot_id = sequence.setting("bot_id") or (self.config.bot_id if sequence.target in self._needs_bot else None)
        body = start_body(sequence, contact, attempt, notes=False, bot_id=bot_id, contact_remote_id=remote_id,
                          vendor_email=vendor_email)
        try:
            return self.writer.start(body)
        except ValidationFailed as exc:
            if bot_id or not self.config.bot_id or not _asks_for_bot(exc):
                raise
        # A 400 is a refusal before anything happened; the same key with a bot_id is the first real start.
        self._needs_bot.add(sequence.target)
        body["bot_id"] = self.config.bot_id
        return self.writer.start(body)

    # -- cards ----------------------------------------------------------------------------------
    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str, *,
                    seen: _read.ClarkySeen | None = None) -> LiveCard:
        """Create the card (and the Clarky contact first, if there is none) with the ownership tag."""
        self.ownership_tag = ownership_tag
        cat = self._catalog(seen)
        remote = cat.pipeline_for_write(pipeline, "POST", CARDS)
        stage_id = cat.stage_id(remote["id"], pipeline, card.stage, "POST", CARDS)
        contact_id = self._contact_for_card(contact, remote.get("bot_id") or self.config.bot_id, cat)
        existing = self._cards_of(remote["id"], contact_id, seen, cat)
        if existing:
            chosen = best_card(existing, ownership_tag)
            if ownership_tag in (chosen.get("tags") or ()):
                return to_card(card.address, chosen, cat.stage_names(remote["id"]), ownership_tag)
            raise ConflictError(self.config.name, "POST", CARDS, None,
                                f"{card.address}: contact {contact_id} already has card {chosen.get('id')} without the "
                                f"{ownership_tag!r} tag; adopt it with `campaignctl import`", code="card_exists")
        body: dict[str, Any] = {"pipeline_stage_id": stage_id, "title": card.title, "contact_id": contact_id,
                                "tags": sorted(set(card.tags) | {ownership_tag})}
        if card.description:
            body["description"] = card.description
        data = self.writer.create_card(body)
        cat.known.created_cards.setdefault((remote["id"], contact_id), []).append(data)
        return to_card(card.address, data, cat.stage_names(remote["id"]), ownership_tag)

    def _contact_for_card(self, contact: Contact, bot_id: str | None, cat: Catalog) -> str:
        cat.confirm(contact)
        found = cat.lookup(contact)
        if found:
            return found
        if not bot_id:
            raise ValidationFailed(self.config.name, "POST", CONTACTS, None,
                                   f"contact {contact.id!r} is not in Clarky yet and creating it needs a bot_id: "
                                   "set bot_id on the provider (campaignctl creates a contact before its first start, "
                                   "so the start can be keyed on Clarky's own contact id)", code="no_bot_id")
        body = {**contact_fields(contact, notes=True), "bot_id": bot_id}
        try:
            data = self.writer.create_contact(body)
        except ConflictError as exc:  # someone created it since we looked
            data = {"id": exc.details.get("contact_id")}
            if not data["id"]:
                raise
        except OutcomeUnknown:
            cat.absent.discard(contact.id)
            if not cat.lookup(contact):  # a contact is no send: reading settles it at once
                raise
            data = {"id": cat.contact_ids[contact.id]}
        cat.remember(contact.id, data.get("id"), data if data.get("emails") else None)
        return str(data["id"])

    def _cards_of(self, pipeline_id: str, contact_id: str, seen: _read.ClarkySeen | None,
                  cat: Catalog) -> list[dict[str, Any]]:
        """Cards of this contact in this pipeline: from the read's list (and what this process created
        since), else asked."""
        if seen is not None and pipeline_id in seen.cards:
            created = cat.known.created_cards.get((pipeline_id, contact_id), [])
            return [*seen.cards[pipeline_id].get(contact_id, ()), *created]
        return cat.cards_of(pipeline_id, contact_id)

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact, *,
                  seen: _read.ClarkySeen | None = None) -> LiveCard | None:
        """Read-only: this contact's card in this pipeline, asked afresh (it settles in-doubt creates)."""
        cat = self._catalog(seen)
        remote = cat.pipeline_for_write(pipeline, "GET", CARDS)
        cat.absent.discard(contact.id)  # the in-doubt write may have created it
        contact_id = cat.lookup(contact)
        if not contact_id:
            return None
        cards = cat.cards_of(remote["id"], contact_id)
        if not cards:
            return None
        tag = seen.ownership_tag if seen is not None else self.ownership_tag
        return to_card(card.address, best_card(cards, tag), cat.stage_names(remote["id"]), tag)

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate, *,
                    seen: _read.ClarkySeen | None = None) -> LiveCard:
        """PATCH only what changes; stage names become ids, `archived` becomes archived_at."""
        path = card_path(live.remote_id)
        cat = self._catalog(seen)
        remote = cat.pipeline_for_write(pipeline, "PATCH", path)
        body: dict[str, Any] = {}
        if update.title is not None:
            body["title"] = update.title
        if update.description is not None:
            body["description"] = update.description  # "" clears it
        if update.tags is not None:
            body["tags"] = list(update.tags)
        if update.stage is not None:
            body["pipeline_stage_id"] = cat.stage_id(remote["id"], pipeline, update.stage, "PATCH", path)
        if update.archived is not None:
            body["archived_at"] = utcnow(self.clock) if update.archived else None
        if not body:
            return live
        data = self.writer.update_card(live.remote_id, body)
        tag = seen.ownership_tag if seen is not None else self.ownership_tag
        return _merged(live, {**body, **data}, cat.stage_names(remote["id"]), tag)

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        """DELETE; a card that is already gone counts as deleted."""
        self.writer.delete_card(live.remote_id)


def _asks_for_bot(exc: ProviderError) -> bool:
    """A 400 that says the template has no bot_id and none was sent."""
    return exc.status == 400 and (exc.details.get("field") == "bot_id" or "bot_id" in exc.vendor_message)


def _merged(live: LiveCard, fields: Mapping[str, Any], stage_names: Mapping[str, str], tag: str) -> LiveCard:
    """The card after a PATCH: the vendor's answer over what was sent over what was there (the
    documented answer carries only some fields)."""
    data = {"id": live.remote_id, "title": live.title, "description": live.description, "tags": list(live.tags),
            "archived_at": "archived" if live.archived else None, "contact_id": live.contact_remote_id,
            "updated_at": live.updated_at, "pipeline_stage_id": None, **fields}
    card = to_card(live.address, data, stage_names, tag)
    if data["pipeline_stage_id"] is None:
        card = LiveCard(card.address, card.remote_id, live.stage, card.title, card.description, card.tags,
                        card.archived, card.managed, card.contact_remote_id, card.updated_at)
    return card
