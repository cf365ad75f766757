"""Gary Club JSON <-> the neutral model: pure functions, no I/O.

Everything that knows a Gary Club field name or status word lives here (and in the request
bodies the provider builds); nothing here talks HTTP.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.identity import canonical_phone
from reconciler.model import Address, Contact, normalize_email
from reconciler.providers._paging import listed_total as _listed
from reconciler.providers.base import StatusReading
from reconciler.providers.discovered import FoundCard, FoundContact, FoundEnrollment, FoundPipeline, FoundSequence, text
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, LiveCard, LiveMembership

# Documented enrollment statuses (docs/vendors.md: active, paused, completed, cancelled) plus the words a
# ladder engine commonly uses. An unknown word maps to ACTIVE: it may still send, so it is never
# re-enrolled and a removal is reported as manual (the safe side of a duplicate send).
STATUS_MAP = {
    "active": ACTIVE, "waiting": ACTIVE, "pending": ACTIVE, "scheduled": ACTIVE, "queued": ACTIVE, "running": ACTIVE,
    "paused": PAUSED,
    "completed": FINISHED, "complete": FINISHED, "finished": FINISHED, "cancelled": FINISHED, "canceled": FINISHED,
    "stopped": FINISHED, "unsubscribed": FINISHED, "opted_out": FINISHED, "replied": FINISHED, "exited": FINISHED,
    "failed": FAILED, "error": FAILED,
}
# Failure reasons that mean the contact cannot be reached, so a retry cannot help ([INF]: the docs
# name no failure reasons; these are the usual words for a missing or blocked channel).
UNREACHABLE = re.compile(r"no_(phone|email|channel|usable)|invalid_(phone|email|number)|opted_out|unsubscribed|"
                         r"do_not_(contact|call|text)|dnc|suppressed|blocked|undeliverable", re.IGNORECASE)


def to_status(row: Mapping[str, Any]) -> StatusReading:
    """The neutral reading of a Gary Club enrollment row; an unknown word reads as ACTIVE."""
    word = str(row.get("status") or "").strip().lower()
    status, known = (STATUS_MAP[word], True) if word in STATUS_MAP else (ACTIVE, False)
    reason = enrollment_reason(row)
    return StatusReading(status, str(row.get("status") or "unknown"), reason,
                         status == FAILED and bool(reason and UNREACHABLE.search(reason)), known)


def enrollment_reason(row: Mapping[str, Any]) -> str | None:
    """The vendor's reason for a paused / failed / stopped enrollment, whichever field carries it."""
    for key in REASON_FIELDS:
        value = row.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping) and value.get("code"):
            return str(value["code"])
    return None


# Every field of an enrollment row that to_status, to_membership and order_enrollments read.
REASON_FIELDS = ("paused_reason", "failure_reason", "failed_reason", "cancelled_reason", "completed_reason", "reason",
                 "error")


def compact_enrollment(row: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a listed enrollment a roster keeps (issue 17: 50k full rows held for the whole
    command were ~50 MB at 100k memberships): what the functions here read, the same answers from
    `.get`; the status word is interned (a few words shared by every row)."""
    kept = {k: row[k] for k in ("id", "contact_id", "enrolled_at", *REASON_FIELDS) if row.get(k) is not None}
    if not kept.get("enrolled_at") and row.get("created_at") is not None:
        kept["created_at"] = row["created_at"]
    if row.get("completed_at"):
        kept["completed_at"] = row["completed_at"]
    elif row.get("updated_at") is not None:  # read only when completed_at is missing
        kept["updated_at"] = row["updated_at"]
    status = row.get("status")
    if status is not None:
        kept["status"] = sys.intern(status) if isinstance(status, str) else status
    return kept


def enrollment_time(row: Mapping[str, Any]) -> str:
    return str(row.get("enrolled_at") or row.get("created_at") or "")


def order_enrollments(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Oldest first by enrolled_at; the list order breaks ties (Gary lists append-only, oldest first)."""
    indexed = list(enumerate(rows))
    indexed.sort(key=lambda pair: (enrollment_time(pair[1]), pair[0]))
    return [row for _, row in indexed]


def to_membership(address: Address, history: list[Mapping[str, Any]], observed_at: str) -> LiveMembership:
    """The latest enrollment of one contact in one sequence; attempt = enrollments before it."""
    row = history[-1]
    reading = to_status(row)
    return LiveMembership(
        address=address,
        remote_id=str(row.get("id")) if row.get("id") is not None else None,
        status=reading.status,
        vendor_status=reading.vendor_status,
        reason=reading.reason,
        unreachable=reading.unreachable,
        attempt=len(history) - 1,
        since=enrollment_time(row) or None,
        observed_at=observed_at,
        contact_remote_id=str(row.get("contact_id")) if row.get("contact_id") else None,
        opt_out=opt_out(row.get("status"), reading.reason),
        ended_at=(str(row.get("completed_at") or row.get("updated_at") or "") or None
                  if reading.status == FINISHED else None),
    )


# The contact policy's opt-outs ([INF]: Gary Club documents none; these are the usual words).
OPT_OUT_WORDS = (("do_not_contact", re.compile(r"do_not_(contact|call|text)|\bdnc\b", re.IGNORECASE)),
                 ("bounced", re.compile(r"bounce|undeliverable", re.IGNORECASE)),
                 ("unsubscribed", re.compile(r"unsubscri|opted_out|opt_out", re.IGNORECASE)))


def opt_out(vendor_status: str | None, reason: str | None) -> str | None:
    """`unsubscribed` | `bounced` | `do_not_contact` when the status or reason says so, else None."""
    text = f"{vendor_status or ''} {reason or ''}"
    return next((kind for kind, words in OPT_OUT_WORDS if words.search(text)), None)


def cadence(sequence: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """(channel, seconds after enrolling) of each step of a sequence row (documented `steps` with `kind`
    and `wait_minutes`): the first runs on the next minute's tick (documented), each later one
    `wait_minutes` after the one before."""
    out: list[tuple[str, float]] = []
    at = 0.0
    for i, step in enumerate(sequence.get("steps") or ()):
        if i:
            at += float(step.get("wait_minutes") or 0) * 60
        out.append((str(step.get("kind") or "sms"), at))
    return tuple(out)


# -- contacts ------------------------------------------------------------------------------------
def normalize_phone(phone: str | None) -> str | None:
    """The comparison form of a phone number (reconciler.identity), None for none."""
    return canonical_phone(phone) or None if phone else None


def _strings(value: Any, key: str) -> list[str]:
    """A field that may be a string, a list of strings, or a list of {key: ..., is_primary}."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, list):
        items = sorted(value, key=lambda v: not (isinstance(v, Mapping) and v.get("is_primary")))
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get(key), str):
                out.append(item[key])
    return out


def contact_keys(row: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(normalised emails, normalised phones) of a Gary contact; the documented shape is `email`/`phone`."""
    emails = _strings(row.get("email"), "email") + _strings(row.get("emails"), "email")
    phones = _strings(row.get("phone"), "phone") + _strings(row.get("phones"), "phone") + \
        _strings(row.get("phone_numbers"), "phone_number")
    return [normalize_email(e) for e in emails if e], [p for p in (normalize_phone(x) for x in phones) if p]


def vendor_identifiers(row: Mapping[str, Any]) -> set[str]:
    """Every identifier of a Gary contact, in the canonical form of reconciler.identity."""
    emails, phones = contact_keys(row)
    return {f"email:{e}" for e in emails} | {f"phone:{p}" for p in phones}


class ContactIndex:
    """Live contacts by every email and phone they carry, for matching manifest contacts on every
    identifier they have."""

    def __init__(self) -> None:
        self.by_ident: dict[str, set[str]] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        if row.get("id") is None:
            return
        for ident in vendor_identifiers(row):
            self.by_ident.setdefault(ident, set()).add(str(row["id"]))

    def matches(self, contact: Contact) -> set[str]:
        """Every Gary contact holding one of `contact`'s emails or phones (more than one: ambiguous)."""
        found: set[str] = set()
        for ident in contact.identifiers:
            found |= self.by_ident.get(ident, set())
        return found

    def match(self, contact: Contact) -> str | None:
        """The one Gary contact of `contact`, or None (none, or more than one)."""
        found = self.matches(contact)
        return next(iter(found)) if len(found) == 1 else None


def contact_body(contact: Contact) -> dict[str, Any]:
    """POST /v1/crm/contacts (an upsert by email or phone) for a manifest contact."""
    body: dict[str, Any] = {
        "email": contact.emails[0] if contact.emails else None,
        "phone": contact.primary_phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "title": contact.job_title,
        "company_name": contact.company,
        "source": "campaignctl",
    }
    return {k: v for k, v in body.items() if v}


def unwrap(body: Any, *keys: str) -> Mapping[str, Any]:
    """The object under the first present key ({"contact": {...}}, {"data": {...}}), else the body."""
    if isinstance(body, Mapping):
        for key in keys:
            if isinstance(body.get(key), Mapping):
                return body[key]
        return body
    return {}


# -- sequences and pipelines ---------------------------------------------------------------------
def pick_by_name_or_id(rows: list[Mapping[str, Any]], target: str) -> Mapping[str, Any] | None:
    """An exact id match, else an exact name match, else a case-insensitive name match."""
    for row in rows:
        if str(row.get("id")) == target:
            return row
    for row in rows:
        if row.get("name") == target:
            return row
    lowered = target.strip().lower()
    hits = [row for row in rows if str(row.get("name") or "").strip().lower() == lowered]
    return hits[0] if len(hits) == 1 else None


def stages_of(pipeline: Mapping[str, Any]) -> list[tuple[str, str]]:
    """[(stage id, stage name)] in board order (by position/order field when present)."""
    rows = [s for s in pipeline.get("stages") or [] if isinstance(s, Mapping)]
    for key in ("position", "order", "order_index", "sort_order"):
        if rows and all(isinstance(s.get(key), (int, float)) for s in rows):
            rows = sorted(rows, key=lambda s: s[key])
            break
    return [(str(s.get("id")), str(s.get("name"))) for s in rows]


# -- deals ---------------------------------------------------------------------------------------
def deal_tags(row: Mapping[str, Any]) -> tuple[str, ...]:
    tags = row.get("tags") or []
    return tuple(str(t) for t in tags) if isinstance(tags, list) else ()


def deal_contact(row: Mapping[str, Any]) -> str | None:
    value = row.get("primary_contact_id") or row.get("contact_id")
    return str(value) if value else None


def to_card(address: Address, row: Mapping[str, Any], stage_names: Mapping[str, str], ownership_tag: str) -> LiveCard:
    """A deal as a neutral card: name -> title; archived is always False (Gary has no archive)."""
    tags = deal_tags(row)
    stage_id = str(row.get("stage_id") or "")
    return LiveCard(
        address=address,
        remote_id=str(row["id"]),
        stage=stage_names.get(stage_id, stage_id),
        title=str(row.get("name") or ""),
        description=row.get("description") or None,  # "" clears a description; read back as None
        tags=tags,
        archived=False,
        managed=ownership_tag in tags,
        contact_remote_id=deal_contact(row),
        updated_at=row.get("updated_at"),
    )


# -- discovery (campaignctl import) ---------------------------------------------------------------
def _as_listed(value: Any, key: str) -> list[str]:
    """A string, or the strings of a list of strings or {key: ...} objects, in the vendor's order (import
    writes them as listed; unlike `_strings`, which puts the primary first for matching)."""
    if isinstance(value, str):
        return [value]
    out = []
    for item in value or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get(key), str):
            out.append(item[key])
    return out


def to_found_contact(row: Mapping[str, Any]) -> FoundContact:
    return FoundContact(str(row.get("id")), text(row.get("first_name")), text(row.get("last_name")),
                        tuple(_as_listed(row.get("email"), "email") + _as_listed(row.get("emails"), "email")),
                        tuple(_as_listed(row.get("phone"), "phone") + _as_listed(row.get("phones"), "phone")),
                        text(row.get("company_name") or row.get("company")), text(row.get("title")))


def to_found_pipeline(row: Mapping[str, Any]) -> FoundPipeline:
    return FoundPipeline(str(row["id"]), text(row.get("name")))


def to_found_sequence(row: Mapping[str, Any]) -> FoundSequence:
    """A sequence as import sees it: only an `active` one takes new members."""
    status = str(row.get("status") or "active")
    return FoundSequence(str(row["id"]), text(row.get("name")), status, status == "active")


def to_found_enrollment(row: Mapping[str, Any]) -> FoundEnrollment:
    contact = row.get("contact_id")
    return FoundEnrollment(str(row.get("id")), str(contact) if contact else None)


def to_found_card(row: Mapping[str, Any], stage_names: Mapping[str, str]) -> FoundCard:
    """A deal as import sees it: name -> title, its stage by name ("" for one the pipeline does not list)."""
    return FoundCard(str(row["id"]), deal_contact(row), stage_names.get(str(row.get("stage_id") or ""), ""),
                     str(row.get("name") or ""), text(row.get("description")) or None, deal_tags(row), False)


def listed_total(body: Any) -> int | None:
    """Every Gary Club list says how many rows match: `{data, next_page_token, total}`."""
    return _listed(body, "total")
