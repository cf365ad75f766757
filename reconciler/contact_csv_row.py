"""One contacts-CSV row (with its source's tags) -> Contact: `;`-separated lists, extra columns as fields."""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from typing import Any

from reconciler.contact_syntax import contact_from
from reconciler.contacts_csv import csv_columns
from reconciler.errors import Problem
from reconciler.model import Contact, Loc

CONTACT_ID = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")


def csv_contact(row: dict[str, Any], source: dict[str, Any], problems: list[Problem],
                columns: Set[str] | None = None, nouns: Mapping[str, str] | None = None) -> Contact | None:
    """`columns` (csv_columns()) and `nouns` (person_id_key_nouns()): what a caller building many rows
    looks up once."""
    loc = Loc(row["__file__"], row["__line__"], 1)
    known = csv_columns() if columns is None else columns
    raw: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for key, value in row.items():
        if not value:
            continue
        if key in known:
            raw[key] = value
        elif not key.startswith("__"):
            fields[key] = value
    raw["emails"] = _split(row.get("email"), row.get("emails"))
    raw["phone_numbers"] = _split(row.get("phone"), row.get("phone_numbers"))
    raw["tags"] = _split(row.get("tags")) + list(source.get("tags") or [])
    raw["fields"] = fields
    if raw.get("id") and not CONTACT_ID.match(raw["id"]):
        problems.append(Problem(loc.file, loc.line, 1,
                                f"id {raw['id']!r} must be lower-case letters, digits, '-', '_', '.', '@', '+'"))
        return None
    return contact_from(raw, loc, problems, nouns=nouns)


def _split(*cells: str | None) -> list[str]:
    """The `;`-separated values of some cells, stripped, empty ones left out."""
    values: list[str] = []
    for cell in cells:
        if not cell:
            continue
        if ";" not in cell:  # most cells hold one value
            cell = cell.strip()
            if cell:
                values.append(cell)
            continue
        values += [v.strip() for v in cell.split(";") if v.strip()]
    return values
