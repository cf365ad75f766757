"""Parse a contacts CSV strictly: known columns, one row per line, each row with its file and line."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from reconciler.errors import Problem

NEUTRAL_COLUMNS = ("id", "first_name", "last_name", "email", "emails", "phone", "phone_numbers", "company",
                   "job_title", "notes", "tags")
CSV_FREE_TEXT = frozenset({"notes"})  # the only column whose quoted value may span lines
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # what a {placeholder} can name


def csv_column_order() -> tuple[str, ...]:
    """The known columns: the neutral ones, then each vendor's person-id key (VendorSpec.person_ids)."""
    from reconciler.providers.vendors import person_id_keys  # the registry imports the model

    return NEUTRAL_COLUMNS + tuple(person_id_keys())


def csv_columns() -> frozenset[str]:
    return frozenset(csv_column_order())


def parse_contacts_csv(text: str, display: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows of a contacts CSV keyed by its header, each with `__file__`/`__line__`; or located problems.

    Strict on purpose: one unclosed quote otherwise swallows every later row into one field (the
    'missing' contacts would then be planned for removal), so a line break is accepted only inside a
    free-text column, and a quoting error stops the file with its line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((r for r in reader if r), None)
    except csv.Error as exc:
        return [], [Problem(display, reader.line_num or 1, 1, f"CSV syntax error in the header row: {exc}")]
    if header is None:
        return [], [Problem(display, 1, 1, "CSV file is empty (expected a header row)")]
    header_line = reader.line_num
    names = [h.strip() for h in header]
    problems = _header_problems(names, display, header_line)
    if problems:
        return [], problems
    rows: list[dict[str, Any]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(display, start, 1, f"CSV syntax error: {exc} (an unclosed quote?); "
                                                       "rows from here on are not read"))
            break
        if not row:
            continue
        if len(row) > len(names):
            problems.append(Problem(display, start, 1, "row has more fields than the header"))
            continue
        # a short row leaves its last columns out (strict=False): the checks below report them missing
        values: dict[str, Any] = dict(zip(names, (v.strip() for v in row), strict=False))
        if reader.line_num > start:
            spans = _spanning_problem(values, len(names), start, reader.line_num)
            if spans:
                problems.append(Problem(display, start, 1, spans))
                continue
        values.update({"__file__": display, "__line__": start})
        rows.append(values)
    return rows, problems


def _header_problems(names: list[str], display: str, line: int) -> list[Problem]:
    """A missing header, unnamed, duplicate or unknown columns: each at the header's line."""
    def at(col: int, message: str) -> Problem:
        return Problem(display, line, col, message)

    order = csv_column_order()
    known = frozenset(order)
    if not {"email", "emails", "phone", "phone_numbers"} & set(names):
        return [at(1, "the header row names no email or phone column (is the header row missing? the first "
                      f"row must name the columns: {', '.join(order)})")]
    problems = []
    first: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            problems.append(at(index, f"column {index} has no name in the header row"))
        elif name in first:
            problems.append(at(index, f"duplicate column {name!r} in the header row "
                                      f"(columns {first[name]} and {index})"))
        elif name not in known and (not FIELD_NAME.match(name) or name.lower() in known
                                          or name.startswith("__")):
            problems.append(at(index, f"unknown column {name!r}: known columns are {', '.join(order)}; "
                                      "any other column is a {placeholder} field named with letters, digits and _"))
        first.setdefault(name, index)
    return problems


def _spanning_problem(values: dict[str, str], width: int, start: int, end: int) -> str | None:
    """Why a row whose quoted field spans lines `start`..`end` is refused, or None when it may."""
    for column, value in values.items():
        if "\n" not in value and "\r" not in value:
            continue
        if column not in CSV_FREE_TEXT:
            return (f"a quoted field in column {column!r} spans lines {start}-{end} (an unclosed quote?); "
                    f"only {', '.join(sorted(CSV_FREE_TEXT))} may hold line breaks")
        if any(line.count(",") >= width - 1 for line in value.splitlines()[1:]):
            return (f"column {column!r} spans lines {start}-{end} and holds what look like other rows "
                    "(an unclosed quote?)")
    return None
