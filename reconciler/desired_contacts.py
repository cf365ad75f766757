"""All contacts of manifests and CSV files, refusing duplicate ids and identifiers shared by two contacts."""

from __future__ import annotations

from reconciler.contact_csv_row import csv_contacts
from reconciler.contact_syntax import contact_from
from reconciler.errors import Problem
from reconciler.identity import shown
from reconciler.manifest import Loaded
from reconciler.manifest_refs import loc_of
from reconciler.model import Contact, person_id_key_nouns


def build_contacts(loaded: Loaded, problems: list[Problem]) -> dict[str, Contact]:
    found: list[Contact] = []
    nouns = person_id_key_nouns()  # looked up once, not per contact
    for doc in loaded.manifests:
        if isinstance(doc.data, dict):
            for raw in doc.data.get("contacts") or []:
                contact = contact_from(raw, loc_of(raw), problems, raw, nouns)
                if contact:
                    found.append(contact)
    for _doc, source, rows in loaded.csv_rows:
        found += csv_contacts(rows, source, problems, nouns)
    by_id: dict[str, Contact] = {}
    by_identifier: dict[str, Contact] = {}
    for contact in sorted(found, key=lambda c: (c.loc.file, c.loc.line)):
        first = by_id.get(contact.id)
        if first is not None:
            _both(problems, contact, first, f"duplicate contact id {contact.id!r}")
            continue
        by_id[contact.id] = contact
        # A person is every identifier they have: one shared identifier makes two contacts one person,
        # whom vendors would enroll twice (a vendor that upserts contacts merges both starts onto one).
        for ident in contact.identifiers:
            first = by_identifier.setdefault(ident, contact)
            if first is not contact:
                _both(problems, contact, first, f"contacts {first.id!r} and {contact.id!r} share the {shown(ident)}; "
                                                "one person must be one contact")
    return by_id


def _both(problems: list[Problem], one: Contact, other: Contact, message: str) -> None:
    """The same problem at both places, each naming the other."""
    for here, there in ((one, other), (other, one)):
        problems.append(Problem(here.loc.file, here.loc.line, here.loc.col,
                                f"{message} (also declared at {there.loc})"))
