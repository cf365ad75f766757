"""Clarky contacts: the documented object, both `emails` shapes, the upsert sequences/start does
(primary email case-insensitively, then phone), suppressions, and the contact endpoints.

Choices where the docs are silent: a missing required field is a 400 (as on sequences/start), a
bad value a 422 naming the field; POST /contacts with a primary email another contact already
has is a 409 conflict; `tags=a,b` matches contacts carrying all the listed tags; `search` is a
case-insensitive substring of name, email, phone or company; lists are in creation order;
appended notes are joined with a newline.

Strict choices (where a kinder simulator would hide a client bug):
- phone numbers must be E.164 (`+`, then 7 to 15 digits, as in every documented example), in
  POST /contacts and in the contact of sequences/start alike; any other shape is a 422;
- POST /contacts needs at least one email or phone number (422), as the start contact does;
- GET /contacts/{id} refuses query parameters like every other route (400 bad_request).
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.sandbox.clarky.base import ApiError, ClarkyBase, invalid, missing
from reconciler.sandbox.core import SimRequest, SimResponse, parse_iso

CONTACT_FIELDS = (
    "id", "workspace_id", "bot_id", "first_name", "last_name", "emails", "phone_numbers",
    "company", "company_id", "job_title", "lead_source", "tags", "deal_value", "pipeline_stage_id",
    "contact_type", "address_line1", "address_line2", "city", "state", "postal_code", "country",
    "linkedin_url", "notes", "custom_fields", "last_contacted_at", "created_at", "updated_at",
)
STRING_FIELDS = frozenset({
    "first_name", "last_name", "company", "company_id", "job_title", "lead_source", "pipeline_stage_id",
    "contact_type", "address_line1", "address_line2", "city", "state", "postal_code", "country",
    "linkedin_url", "notes", "bot_id",
})
WRITABLE_FIELDS = STRING_FIELDS | {"emails", "phone_numbers", "tags", "deal_value", "custom_fields"}
E164 = re.compile(r"\+[1-9]\d{6,14}")
LIST_PARAMS = {"search", "tags", "lead_source", "pipeline_stage_id", "bot_id", "created_after",
               "created_before", "updated_after", "page", "page_size"}


def normalize_phone(phone: str) -> str:
    """Phone as matched: without spaces, dashes, dots and parentheses."""
    return re.sub(r"[\s\-().]", "", phone)


def _one_primary(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The first item is primary unless another one is flagged (documented for emails).
    idx = next((i for i, item in enumerate(items) if item["is_primary"]), 0)
    for i, item in enumerate(items):
        item["is_primary"] = i == idx
    return items


def parse_channels(raw: Any, field: str, key: str) -> list[dict[str, Any]]:
    """`["a@b"]` or `[{"email": "a@b", "is_primary": true}]` (phones likewise) -> the object shape."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid(field, f"{field} must be an array.")
    out: list[dict[str, Any]] = []
    for item in raw:
        if isinstance(item, str):
            value, is_primary = item, False
        elif isinstance(item, dict) and isinstance(item.get(key), str):
            value, is_primary = item[key], bool(item.get("is_primary"))
        else:
            raise invalid(field, f"Each item of {field} must be a string or an object with {key}.")
        value = value.strip()
        if key == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise invalid(field, f"Invalid email address: {value!r}.")
        if key == "phone_number" and not E164.fullmatch(value):
            # Strict: the docs only ever show E.164 ("+34911234567"); other shapes are refused.
            raise invalid(field, f"Invalid phone number: {value!r} (use E.164, like +34911234567).")
        out.append({key: value, "is_primary": is_primary})
    return _one_primary(out)


def primary(items: list[dict[str, Any]], key: str) -> str | None:
    """The primary value of an emails / phone_numbers array."""
    for item in items:
        if item["is_primary"]:
            return item[key]
    return items[0][key] if items else None


def parse_contact_fields(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Validate contact fields from a request body; returns only the fields present."""
    if not isinstance(raw, dict):
        raise invalid(prefix or "contact", "contact must be an object.")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        field = prefix + name
        if name not in WRITABLE_FIELDS:
            raise ApiError(400, "bad_request", f"Unsupported parameter: {field}.", {"field": field})
        if name == "emails":
            out[name] = parse_channels(value, field, "email")
        elif name == "phone_numbers":
            out[name] = parse_channels(value, field, "phone_number")
        elif name == "tags":
            if value is not None and not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
                raise invalid(field, "tags must be an array of strings.")
            out[name] = list(value or [])
        elif name == "deal_value":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise invalid(field, "deal_value must be a number.")
            out[name] = value
        elif name == "custom_fields":
            if value is not None and not isinstance(value, dict):
                raise invalid(field, "custom_fields must be an object.")
            out[name] = dict(value or {})
        else:
            if value is not None and not isinstance(value, str):
                raise invalid(field, f"{name} must be a string.")
            out[name] = value
    return out


class ContactsMixin(ClarkyBase):
    """Contacts, their lookup indexes and suppressions."""

    _contact_idx: tuple[dict[str, str], dict[str, str], dict[str, str]] | None = None

    # -- indexes (built once per process from the store, then kept up to date) ----------------------
    def _indexes(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """(primary email -> id, any email -> id, phone -> id); lower-cased emails, first contact wins."""
        idx = self._contact_idx
        if idx is None:
            idx = self._contact_idx = ({}, {}, {})
            for _, contact in self.coll("contacts").scan():
                self._index_contact(contact)
        return idx

    def _index_contact(self, contact: dict[str, Any]) -> None:
        by_primary, by_email, by_phone = self._indexes()
        first = primary(contact["emails"], "email")
        if first:
            by_primary.setdefault(first.lower(), contact["id"])
        for item in contact["emails"]:
            by_email.setdefault(item["email"].lower(), contact["id"])
        for item in contact["phone_numbers"]:
            by_phone.setdefault(normalize_phone(item["phone_number"]), contact["id"])

    def save_contact(self, contact: dict[str, Any]) -> None:
        """Persist a contact and index its emails and phones."""
        self.coll("contacts").put(contact["id"], contact)
        self._index_contact(contact)

    def find_contact(self, ref: str) -> dict[str, Any] | None:
        """A contact by id, any of its emails (case-insensitive) or any phone."""
        contacts = self.coll("contacts")
        if ref in contacts:
            return contacts.get(ref)
        _, by_email, by_phone = self._indexes()
        cid = by_email.get(ref.strip().lower()) or by_phone.get(normalize_phone(ref))
        return contacts.get(cid) if cid else None

    # -- suppressions ---------------------------------------------------------------------------------
    @staticmethod
    def suppression_key(kind: str, value: str) -> str:
        return f"email:{value.strip().lower()}" if kind == "email" else f"phone:{normalize_phone(value)}"

    def is_suppressed(self, kind: str, value: str) -> bool:
        return self.suppression_key(kind, value) in self.coll("suppressions")

    def suppress(self, kind: str, value: str) -> None:
        key = self.suppression_key(kind, value)
        self.coll("suppressions").put(key, {"kind": kind, "value": value, "at": self.clock.iso()})

    # -- building and upserting -------------------------------------------------------------------------
    def new_contact(self, fields: dict[str, Any], bot_id: str, *, contact_id: str | None = None,
                    at: str | None = None) -> dict[str, Any]:
        """A complete contact object (every documented field) from validated fields."""
        now = at or self.clock.iso()
        contact: dict[str, Any] = {name: None for name in CONTACT_FIELDS}
        contact.update(emails=[], phone_numbers=[], tags=[], custom_fields={})
        contact.update(fields)
        contact.update(
            id=contact_id or self.new_id("c_"), workspace_id=self.workspace_id(), bot_id=bot_id,
            created_at=now, updated_at=now,
        )
        return contact

    def workspace_id(self) -> str:
        return self.store.meta_get("clarky.workspace_id", "w_01HXXX")

    def match_contact(self, emails: list[dict[str, Any]], phones: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The documented upsert match: primary email (case-insensitive), falling back to phone."""
        by_primary, _, by_phone = self._indexes()
        first = primary(emails, "email")
        cid = by_primary.get(first.lower()) if first else None
        for item in phones if cid is None else ():
            cid = by_phone.get(normalize_phone(item["phone_number"]))
            if cid:
                break
        return self.coll("contacts").get(cid) if cid else None

    def upsert_contact(self, fields: dict[str, Any], bot_id: str) -> tuple[dict[str, Any], str]:
        """Create or update; `notes` are appended, never replaced (on every call: the trap)."""
        emails, phones = fields.get("emails", []), fields.get("phone_numbers", [])
        contact = self.match_contact(emails, phones)
        if contact is None:
            contact = self.new_contact(fields, bot_id)
            self.save_contact(contact)
            return contact, "created"
        for name, value in fields.items():
            if name == "notes":
                if value:
                    contact["notes"] = f"{contact['notes']}\n{value}" if contact.get("notes") else value
            elif name in ("emails", "phone_numbers"):
                key = "email" if name == "emails" else "phone_number"
                known = {item[key].lower() for item in contact[name]}
                for item in value:
                    if item[key].lower() not in known:
                        contact[name].append({key: item[key], "is_primary": not contact[name]})
            elif name == "tags":
                contact["tags"] += [t for t in value if t not in contact["tags"]]
            elif name == "custom_fields":
                contact["custom_fields"] = {**(contact.get("custom_fields") or {}), **value}
            elif value is not None and name != "bot_id":
                contact[name] = value
        contact["updated_at"] = self.clock.iso()
        self.save_contact(contact)
        return contact, "updated"

    # -- endpoints --------------------------------------------------------------------------------------
    def list_contacts(self, req: SimRequest) -> SimResponse:
        self.check_params(req, LIST_PARAMS)
        self.page_params(req)  # validate before filtering
        search = (req.q("search") or "").strip().lower()
        tags = [t.strip() for t in (req.q("tags") or "").split(",") if t.strip()]
        exact = {name: req.q(name) for name in ("lead_source", "pipeline_stage_id", "bot_id") if req.q(name)}
        created_after = self.time_param(req, "created_after")
        created_before = self.time_param(req, "created_before")
        updated_after = self.time_param(req, "updated_after")
        key = ("contacts", search, tuple(tags), tuple(sorted(exact.items())), created_after, created_before,
               updated_after)
        return self.paginate(req, self.listed(("contacts",), key, lambda: self._filter_contacts(
            search, tags, exact, created_after, created_before, updated_after)), "contacts")

    def _filter_contacts(self, search: str, tags: list[str], exact: dict[str, Any], created_after: float | None,
                         created_before: float | None, updated_after: float | None) -> list[str]:
        """The ids of the contacts these filters keep."""
        out = []
        wanted = set(tags)
        for key, contact in self.coll("contacts").scan():
            if exact and any(contact.get(name) != value for name, value in exact.items()):
                continue
            if wanted and not wanted.issubset(contact["tags"]):
                continue
            if search and search not in _haystack(contact):
                continue
            if created_after is not None or created_before is not None:
                created = parse_iso(contact["created_at"])
                if created_after is not None and created <= created_after:
                    continue
                if created_before is not None and created >= created_before:
                    continue
            if updated_after is not None and parse_iso(contact["updated_at"]) <= updated_after:
                continue
            out.append(key)
        return out

    def get_contact(self, req: SimRequest, contact_id: str) -> SimResponse:
        self.check_params(req, set())
        contact = self.coll("contacts").get(contact_id)
        if contact is None:
            raise ApiError(404, "not_found", f"Contact {contact_id} not found.")
        return SimResponse(200, {"data": contact})

    def contact_by_email(self, req: SimRequest) -> SimResponse:
        self.check_params(req, {"email"})
        email = (req.q("email") or "").strip()
        if not email:
            raise missing("email")
        cid = self._indexes()[1].get(email.lower())
        if cid is None:
            raise ApiError(404, "not_found", "No contact with that email.")
        return SimResponse(200, {"data": self.coll("contacts").get(cid)})

    def create_contact(self, req: SimRequest) -> SimResponse:
        body = self.body_object(req, set(WRITABLE_FIELDS))
        fields = parse_contact_fields(body)
        bot_id = fields.pop("bot_id", None)
        if not bot_id:
            raise missing("bot_id")
        if not fields.get("emails") and not fields.get("phone_numbers"):
            # Documented for the contact of sequences/start; the same contact object here.
            raise invalid("emails", "The contact needs at least one email or phone number.")
        if bot_id not in self.coll("bots"):
            raise invalid("bot_id", f"bot_id {bot_id} is not in this workspace.")
        first = primary(fields.get("emails", []), "email")
        existing = self._indexes()[0].get(first.lower()) if first else None
        if existing:
            raise ApiError(409, "conflict", f"A contact with email {first} already exists.",
                           {"field": "emails", "contact_id": existing})
        contact = self.new_contact(fields, bot_id)
        self.save_contact(contact)
        return SimResponse(201, {"data": contact})


def _haystack(contact: dict[str, Any]) -> str:
    parts = [contact.get("first_name") or "", contact.get("last_name") or "", contact.get("company") or ""]
    parts += [item["email"] for item in contact["emails"]]
    parts += [item["phone_number"] for item in contact["phone_numbers"]]
    return " ".join([" ".join(parts[:2]), *parts[2:]]).lower()
