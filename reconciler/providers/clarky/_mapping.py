"""Clarky JSON <-> the neutral model: statuses, start bodies, idempotency keys, cards, contacts.

Pure functions only (no I/O), so every vendor field name lives here or in the endpoint calls.
Choices where the seed documents are silent:
- A vendor status we do not know is treated as `active`: "may still send" is the only safe guess
  for a once-only membership (it is never re-enrolled).
- `failed` carries `generation_error` (or `stop_reason`) as the reason; a reason that means the
  contact cannot be reached (no_usable_channels, suppressed / unsubscribed / opted-out) is
  `unreachable`, so the planner skips it instead of retrying.
- The idempotency key hashes only what identifies the enrollment for good: the template, Clarky's
  own id of the contact and the attempt number. Never the provider's name, a run id, a clock or a
  manifest email, so any run on any machine, before or after an identity edit, derives the same key.
- An empty description is read back as None (the apply engine sends "" to clear one).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from typing import Any

from reconciler.identity import canonical_email, canonical_phone
from reconciler.model import Address, Contact, Sequence
from reconciler.providers._paging import listed_total as _listed
from reconciler.providers.base import StatusReading
from reconciler.providers.discovered import FoundCard, FoundContact, FoundPipeline, text
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, LiveCard, LiveMembership

ACTIVE_STATUSES = frozenset({"generating", "pending_approval", "approved", "running"})
FINISHED_STATUSES = frozenset({"completed", "stopped_reply", "stopped_unsubscribed", "stopped_user"})
# The contact policy's opt-outs: "Contact's email/phone is suppressed" (documented). A `failed`
# enrollment with no_usable_channels is not one: it also means "no phone for a voice template".
OPT_OUTS = {"stopped_unsubscribed": "unsubscribed"}
UNREACHABLE_MARKERS = ("no_usable_channel", "suppress", "unsubscrib", "opted_out", "opt_out")
KEY_PREFIX = "campaignctl-"


def idempotency_key(template: str, contact_remote_id: str, attempt: int) -> str:
    """The deterministic `idempotency_key` of one start, keyed on Clarky's own contact id.

    The contact id is resolved (or the contact created) before the start, so the key does not change
    when the manifest's emails or phones change, when the contact is renamed, or when the state is
    lost: the same person in the same template always gets the same key."""
    raw = f"campaignctl:v2:clarky:{template}:contact:{contact_remote_id}:{attempt}"
    return KEY_PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def to_status(data: Mapping[str, Any]) -> StatusReading:
    """The neutral reading of a Clarky enrollment (status endpoint or start answer)."""
    vs = str(data.get("status") or "unknown")
    if vs in FINISHED_STATUSES:
        return StatusReading(FINISHED, vs, vs, False, True)
    if vs == "failed":
        why = _reason(data) or "failed"
        return StatusReading(FAILED, vs, why, any(marker in why.lower() for marker in UNREACHABLE_MARKERS), True)
    return StatusReading(ACTIVE, vs, None, False, vs in ACTIVE_STATUSES)


def _reason(data: Mapping[str, Any]) -> str | None:
    raw = data.get("generation_error") or data.get("stop_reason")
    if isinstance(raw, Mapping):  # tolerate an object-shaped error
        raw = raw.get("code") or raw.get("message")
    return str(raw) if raw else None


def to_membership(address: Address, data: Mapping[str, Any], *, attempt: int, observed_at: str,
                  since: str | None = None) -> LiveMembership:
    """A LiveMembership from an enrollment object (status endpoint) or a start response."""
    reading = to_status(data)
    return LiveMembership(
        address=address,
        remote_id=data.get("id") or data.get("enrollment_id"),
        status=reading.status,
        vendor_status=reading.vendor_status,
        reason=reading.reason,
        unreachable=reading.unreachable,
        attempt=attempt,
        since=data.get("created_at") or since,
        observed_at=observed_at,
        contact_remote_id=data.get("contact_id"),
        opt_out=OPT_OUTS.get(reading.vendor_status),
        ended_at=data.get("updated_at") if reading.status == FINISHED else None,
    )


def contact_fields(contact: Contact, *, notes: bool) -> dict[str, Any]:
    """The `contact` object of sequences/start (also the body of POST /contacts, plus bot_id)."""
    body: dict[str, Any] = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "emails": list(contact.emails),
        "phone_numbers": list(contact.phone_numbers),
        "company": contact.company,
        "job_title": contact.job_title,
    }
    if notes:
        body["notes"] = contact.notes
    return {k: v for k, v in body.items() if v not in (None, "", [])}


def start_body(sequence: Sequence, contact: Contact, attempt: int, *, notes: bool, bot_id: str | None,
               contact_remote_id: str, vendor_email: str | None = None) -> dict[str, Any]:
    """The body of POST /sequences/start; always keyed on the Clarky contact id.

    Clarky's upsert matches the body's primary email, then its phone: `vendor_email` (the primary
    email Clarky holds for the contact) goes first, so the start lands on the contact the key names
    even when the manifest's own primary email is new to Clarky."""
    fields = contact_fields(contact, notes=notes)
    if vendor_email:
        rest = [e for e in fields.get("emails", []) if canonical_email(e) != canonical_email(vendor_email)]
        fields["emails"] = [vendor_email, *rest]
    body: dict[str, Any] = {
        "template_id": sequence.target,
        "contact": fields,
        "auto_approve": bool(sequence.setting("auto_approve", False)),
        "idempotency_key": idempotency_key(sequence.target, contact_remote_id, attempt),
    }
    if bot_id:
        body["bot_id"] = bot_id
    if sequence.name:
        body["name"] = sequence.name
    return body


def _channels(items: Any, key: str) -> list[str]:
    """Every value of an `emails` / `phone_numbers` array in either documented shape, primary first."""
    if not isinstance(items, list):
        return []
    values = []
    for item in items:
        if isinstance(item, str):
            values.append((item, False))
        elif isinstance(item, Mapping) and item.get(key):
            values.append((str(item[key]), bool(item.get("is_primary"))))
    return [v for v, _ in sorted(values, key=lambda pair: not pair[1])]


def vendor_identifiers(data: Mapping[str, Any]) -> set[str]:
    """Every identifier of a Clarky contact, in the canonical form of reconciler.identity."""
    return ({f"email:{canonical_email(e)}" for e in _channels(data.get("emails"), "email")}
            | {f"phone:{canonical_phone(p)}" for p in _channels(data.get("phone_numbers"), "phone_number")})


def _channel(items: Any, key: str) -> str | None:
    """Primary value of an `emails` / `phone_numbers` array in either documented shape (the flagged
    one, else the first)."""
    values = _channels(items, key)
    return values[0] if values else None


def normalize_phone(phone: str | None) -> str | None:
    """The comparison form of a phone number (reconciler.identity), None for none."""
    return canonical_phone(phone) if phone else None


def vendor_primary_email(data: Mapping[str, Any]) -> str | None:
    """A Clarky contact's primary email exactly as Clarky holds it (its upsert matches on that)."""
    email = _channel(data.get("emails"), "email")
    return email.strip() if email else None


def to_card(address: Address, data: Mapping[str, Any], stage_names: Mapping[str, str], tag: str) -> LiveCard:
    """A LiveCard from a pipeline card object; stage ids become names."""
    tags = tuple(str(t) for t in data.get("tags") or ())
    stage_id = data.get("pipeline_stage_id") or ""
    return LiveCard(
        address=address,
        remote_id=str(data["id"]),
        stage=stage_names.get(stage_id, stage_id),
        title=data.get("title") or "",
        description=data.get("description") or None,
        tags=tags,
        archived=data.get("archived_at") is not None,
        managed=tag in tags,
        contact_remote_id=data.get("contact_id"),
        updated_at=data.get("updated_at"),
    )


# -- discovery (campaignctl import) ---------------------------------------------------------------
def to_found_contact(data: Mapping[str, Any]) -> FoundContact:
    """A contact object as import sees it: every email and phone, primary first."""
    return FoundContact(str(data.get("id")), text(data.get("first_name")), text(data.get("last_name")),
                        tuple(_channels(data.get("emails"), "email")),
                        tuple(_channels(data.get("phone_numbers"), "phone_number")),
                        text(data.get("company")), text(data.get("job_title")))


def to_found_pipeline(data: Mapping[str, Any]) -> FoundPipeline:
    return FoundPipeline(str(data["id"]), text(data.get("name")))


def to_found_card(data: Mapping[str, Any], stage_names: Mapping[str, str]) -> FoundCard:
    """A pipeline card as import sees it: its stage by name ("" for a stage the pipeline does not list)."""
    contact = data.get("contact_id")
    return FoundCard(str(data["id"]), str(contact) if contact else None,
                     stage_names.get(data.get("pipeline_stage_id") or "", ""), str(data.get("title") or ""),
                     text(data.get("description")) or None, tuple(str(t) for t in data.get("tags") or ()),
                     data.get("archived_at") is not None)


CARD_FIELDS = ("id", "contact_id", "pipeline_stage_id", "title", "description", "archived_at", "updated_at")
_TAGS: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct tag set (nearly all cards share one)


def compact_card(data: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a listed card that `best_card` and `to_card` read, as a read keeps it for the writes
    (issue 17: 50k full cards held for the whole command were ~40 MB at 100k memberships); the same
    answers from `.get`, with tags as a shared tuple and the stage id interned."""
    kept = {k: data[k] for k in CARD_FIELDS if data.get(k) is not None}
    stage = kept.get("pipeline_stage_id")
    if isinstance(stage, str):
        kept["pipeline_stage_id"] = sys.intern(stage)
    tags = data.get("tags")
    if tags:
        as_tuple = tuple(tags)
        kept["tags"] = _TAGS.setdefault(as_tuple, as_tuple) if all(isinstance(t, str) for t in as_tuple) else as_tuple
    return kept


def best_card(cards: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    """The one card that stands for (pipeline, contact): managed, then active, then most recent."""
    if len(cards) == 1:  # nearly always: skip building the sort key
        return cards[0]
    return max(cards, key=lambda c: (tag in (c.get("tags") or ()), c.get("archived_at") is None,
                                     c.get("updated_at") or "", c.get("id") or ""))


def more_pages(body: Any, items: list[Any], page: int) -> bool:
    """Clarky pagination: another page exists while page < total_pages."""
    pagination = body.get("pagination") if isinstance(body, Mapping) else None
    if isinstance(pagination, Mapping) and pagination.get("total_pages") is not None:
        return page < int(pagination["total_pages"])
    return len(items) >= 100


def listed_total(body: Any) -> int | None:
    """Clarky lists say how many items exist: `pagination.total`."""
    return _listed(body, "pagination.total")
