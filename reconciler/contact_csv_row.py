"""One contacts-CSV row (with its source's tags) -> Contact: `;`-separated lists, extra columns as fields."""

from __future__ import annotations

import re
from typing import Any

from reconciler.contact_syntax import contact_from
from reconciler.contacts_csv import csv_columns
from reconciler.errors import Problem
from reconciler.model import Contact, Loc


def csv_contact(row: dict[str, Any], source: dict[str, Any], problems: list[Problem]) -> Contact | None:
    loc = Loc(row["__file__"], row["__line__"], 1)

    def split(*names: str) -> list[str]:
        values: list[str] = []
        for name in names:
            values += [v.strip() for v in (row.get(name) or "").split(";") if v.strip()]
        return values

    columns = csv_columns()
    raw = {k: v for k, v in row.items() if k in columns and v}
    raw["emails"] = split("email", "emails")
    raw["phone_numbers"] = split("phone", "phone_numbers")
    raw["tags"] = split("tags") + list(source.get("tags") or [])
    raw["fields"] = {k: v for k, v in row.items() if k not in columns and not k.startswith("__") and v}
    if raw.get("id") and not re.match(r"^[a-z0-9][a-z0-9._@+-]*$", raw["id"]):
        problems.append(Problem(loc.file, loc.line, 1,
                                f"id {raw['id']!r} must be lower-case letters, digits, '-', '_', '.', '@', '+'"))
        return None
    return contact_from(raw, loc, problems)
