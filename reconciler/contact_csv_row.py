"""Contacts-CSV rows (with their source's tags) -> Contact: `;`-separated lists, extra columns as fields."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.contact_syntax import contact_from
from reconciler.contacts_csv import CsvRows, csv_columns
from reconciler.errors import Problem
from reconciler.model import Contact, Loc, person_id_key_nouns

CONTACT_ID = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")
# Columns read by name; the person-id keys of vendors (VendorSpec.person_ids) are read by contact_from.
_NAMED = ("id", "first_name", "last_name", "company", "job_title", "notes")


def csv_contacts(rows: CsvRows, source: dict[str, Any], problems: list[Problem],
                 nouns: Mapping[str, str] | None = None) -> Iterator[Contact]:
    """The contacts of a CSV's rows, in file order; a row with a problem is reported and left out.
    `nouns`: person_id_key_nouns(), which a caller reading many files looks up once."""
    nouns = person_id_key_nouns() if nouns is None else nouns
    known = csv_columns()
    # The header is the same for every row: where each column is, looked up once per file.
    at = {name: index for index, name in enumerate(rows.names)}
    named = [(name, at[name]) for name in (*_NAMED, *nouns) if name in at]
    extra = [(name, index) for index, name in enumerate(rows.names) if name not in known]
    emails = [at[name] for name in ("email", "emails") if name in at]
    phones = [at[name] for name in ("phone", "phone_numbers") if name in at]
    tag_column = at.get("tags")
    source_tags = list(source.get("tags") or [])
    tags_of: dict[str, list[str]] = {}  # a tags cell -> its tags and the source's (cells repeat)
    sorted_tags: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple for every contact with the same tags
    display, width = rows.display, len(rows.names)
    for line, values in rows:
        if len(values) < width:  # a short row: its last cells are empty
            values = values + ("",) * (width - len(values))
        raw: dict[str, Any] = {name: values[index] for name, index in named if values[index]}
        fields = {name: values[index] for name, index in extra if values[index]}
        raw["emails"] = _split(*[values[index] for index in emails])
        raw["phone_numbers"] = _split(*[values[index] for index in phones])
        cell = values[tag_column] if tag_column is not None else ""
        tags = tags_of.get(cell)
        if tags is None:
            tags = tags_of[cell] = _split(cell) + source_tags
        raw["tags"] = tags
        raw["fields"] = fields
        loc = Loc(display, line, 1)
        if raw.get("id") and not CONTACT_ID.match(raw["id"]):
            problems.append(Problem(loc.file, loc.line, 1,
                                    f"id {raw['id']!r} must be lower-case letters, digits, '-', '_', '.', '@', '+'"))
            continue
        contact = contact_from(raw, loc, problems, nouns=nouns, shared=sorted_tags)
        if contact:
            yield contact


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
