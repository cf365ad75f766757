"""Parse a contacts CSV strictly: known columns, one row per line, each row with its file and line."""

from __future__ import annotations

import csv
import io
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

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


# Columns whose values identify one contact (so never repeat) or are free text; the values of any
# other column (names, companies, tags, fields) repeat from row to row and are shared.
_UNSHARED = frozenset({"id", "email", "emails", "phone", "phone_numbers", "notes"})
# Distinct values a column shares; later new values are kept as read, and a column that filled its
# share with fewer repeats than values (titles, last names) is not shared any longer.
SHARED_PER_COLUMN = 4096


@dataclass(frozen=True, slots=True)
class CsvRows:
    """The rows of one contacts CSV: the header's column names and, per row, the line it starts on and
    its values, stripped (a short row has fewer values than names). A value repeated in a column is
    one string, so 150,000 rows tagged `vip` hold one `vip`."""

    display: str
    names: tuple[str, ...] = ()
    lines: array[int] = field(default_factory=lambda: array("l"))
    values: list[tuple[str, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """(line, values) of each row, in file order."""
        return zip(self.lines, self.values, strict=True)


def parse_contacts_csv(text: str, display: str) -> tuple[CsvRows, list[Problem]]:
    """Rows of a contacts CSV with the line each starts on; or located problems.

    Strict on purpose: one unclosed quote otherwise swallows every later row into one field (the
    'missing' contacts would then be planned for removal), so a line break is accepted only inside a
    free-text column, and a quoting error stops the file with its line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((r for r in reader if r), None)
    except csv.Error as exc:
        return CsvRows(display), [Problem(display, reader.line_num or 1, 1,
                                          f"CSV syntax error in the header row: {exc}")]
    if header is None:
        return CsvRows(display), [Problem(display, 1, 1, "CSV file is empty (expected a header row)")]
    header_line = reader.line_num
    names = [h.strip() for h in header]
    problems = _header_problems(names, display, header_line)
    if problems:
        return CsvRows(display), problems
    rows = CsvRows(display, tuple(names))
    unshared = _UNSHARED.union(csv_column_order()[len(NEUTRAL_COLUMNS):])  # and the vendors' person ids
    # column -> its values kept so far, and how often one repeated
    shared: list[tuple[int, dict[str, str], list[int]]] = [
        (index, {}, [0]) for index, name in enumerate(names) if name not in unshared]
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
        # a short row leaves its last columns out: the checks that follow report them missing
        values = [v.strip() for v in row]
        if reader.line_num > start:
            spans = _spanning_problem(dict(zip(names, values, strict=False)), len(names), start, reader.line_num)
            if spans:
                problems.append(Problem(display, start, 1, spans))
                continue
        unique = False
        for index, kept, repeats in shared:
            if index < len(values):
                value = kept.get(values[index])
                if value is not None:
                    values[index] = value
                    repeats[0] += 1
                elif len(kept) < SHARED_PER_COLUMN:
                    kept[values[index]] = values[index]
                elif repeats[0] < len(kept):  # fewer repeats than distinct values: a column of unique values
                    unique = True
        if unique:
            shared = [(i, kept, n) for i, kept, n in shared if len(kept) < SHARED_PER_COLUMN or n[0] >= len(kept)]
        rows.lines.append(start)
        rows.values.append(tuple(values))
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
