"""Manifest contacts from live vendor contacts: identity, stable ids, valid fields only.

Choices campaignctl makes:
- A live contact whose identity (normalised primary email, else phone) matches a contact the
  directory already declares keeps that contact's id and is not written again.
- A new contact's id is the slug of its name (`maria-garcia`), else of its email or phone; when
  that id is taken, the slug of name plus email (`maria-garcia-maria-example-com`), then a
  number. Ids are deterministic for the same account and directory.
- Only fields that validate are kept: emails that look like emails, E.164 phone numbers; a
  contact left with neither cannot be matched by the vendors and is skipped (with a comment).
- Vendor tags and notes are not imported (a vendor may append notes to its contact on every start).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from reconciler.contact_syntax import EMAIL
from reconciler.identity import E164
from reconciler.model import DesiredState, normalize_email
from reconciler.model import slug as _slug
from reconciler.providers.discovered import FoundContact


@dataclass
class Person:
    """A vendor contact in manifest terms (before it gets an id)."""

    first_name: str | None = None
    last_name: str | None = None
    emails: list[str] = field(default_factory=list)
    phone_numbers: list[str] = field(default_factory=list)
    company: str | None = None
    job_title: str | None = None

    @property
    def identity(self) -> str | None:
        if self.emails:
            return "email:" + normalize_email(self.emails[0])
        return "phone:" + self.phone_numbers[0] if self.phone_numbers else None

    def manifest(self, cid: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": cid}
        for key in ("first_name", "last_name", "emails", "phone_numbers", "company", "job_title"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data


def person(found: FoundContact) -> Person:
    """A discovered vendor contact as a Person, with only the values that pass `validate`."""
    good_emails = [e.strip() for e in found.emails if EMAIL.match(e.strip())]
    good_phones = []
    for phone in found.phone_numbers:
        digits = re.sub(r"[^\d+]", "", phone)
        if E164.match(digits):
            good_phones.append(digits)

    def text(value: str | None) -> str | None:
        return value.strip() or None if value else None

    return Person(text(found.first_name), text(found.last_name), list(dict.fromkeys(good_emails)),
                  list(dict.fromkeys(good_phones)), text(found.company), text(found.job_title))


def slug(text: str) -> str:
    """'María García' -> 'maria-garcia': accents folded to ASCII before slugging."""
    folded = unicodedata.normalize("NFKD", text)
    return _slug("".join(ch for ch in folded if not unicodedata.combining(ch)))


class ContactBook:
    """Assigns manifest ids to live contacts and remembers which ones must be written."""

    def __init__(self, existing: DesiredState | None) -> None:
        self.by_identity: dict[str, str] = {}
        self.taken: set[str] = set()
        if existing is not None:
            for contact in existing.contacts.values():
                self.by_identity[contact.identity] = contact.id
                self.taken.add(contact.id)
        self.new: dict[str, Person] = {}  # id -> person, in discovery order

    def add(self, person: Person) -> str | None:
        """The manifest id for `person` (None: no usable identity)."""
        identity = person.identity
        if identity is None:
            return None
        if identity in self.by_identity:
            return self.by_identity[identity]
        name = " ".join(p for p in (person.first_name, person.last_name) if p)
        handle = person.emails[0] if person.emails else "phone-" + person.phone_numbers[0].lstrip("+")
        candidates = [slug(name)[:80]] if name and slug(name) != "x" else []
        candidates += [(slug(f"{name} {handle}") if name else slug(handle))[:120]]
        cid = next((c for c in candidates if c not in self.taken), None)
        n = 2
        while cid is None:
            if f"{candidates[-1]}-{n}" not in self.taken:
                cid = f"{candidates[-1]}-{n}"
            n += 1
        self.taken.add(cid)
        self.by_identity[identity] = cid
        self.new[cid] = person
        return cid
