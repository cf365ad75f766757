"""Contacts CSV rows kept compactly: repeated values of a column are one string, every value still
reads as written, and a short row's missing cells read as empty."""

from __future__ import annotations

import pytest

from reconciler import contacts_csv
from reconciler.contacts_csv import parse_contacts_csv
from reconciler.desired import load_desired
from reconciler.errors import ManifestError

HEADER = "id,first_name,last_name,email,tags,title\n"


def test_repeated_values_are_one_string_and_every_value_reads_as_written(monkeypatch):
    monkeypatch.setattr(contacts_csv, "SHARED_PER_COLUMN", 4)  # the unique titles stop being shared early
    lines = [f"p{i},{'Ana' if i % 2 else 'Bo'},Last {i},p{i}@example.com,{'vip' if i % 3 else 'new'},Title {i}\n"
             for i in range(1, 21)]
    rows, problems = parse_contacts_csv(HEADER + "".join(lines), "leads.csv")
    assert problems == []
    assert list(rows.lines) == list(range(2, 22))
    read = [dict(zip(rows.names, values, strict=True)) for values in rows.values]
    assert [r["title"] for r in read] == [f"Title {i}" for i in range(1, 21)]
    assert [r["last_name"] for r in read] == [f"Last {i}" for i in range(1, 21)]
    assert [r["id"] for r in read] == [f"p{i}" for i in range(1, 21)]
    assert len({id(r["first_name"]) for r in read}) == 2
    assert len({id(r["tags"]) for r in read}) == 2


def test_a_short_row_reads_its_missing_cells_as_empty(make_project):
    root = make_project({"m.yaml": "contact_sources:\n  - csv: leads.csv\n",
                         "leads.csv": HEADER + "p1,Ana,One,p1@example.com,vip,T\np2,Bo\np3,Cy,Three,p3@example.com\n"})
    with pytest.raises(ManifestError) as err:
        load_desired(root)
    assert [str(p) for p in err.value.problems] == [
        "camp/leads.csv:3:1: a contact needs at least one email or phone number"]


def test_a_short_row_with_an_email_is_a_contact_without_the_rest(make_project):
    root = make_project({"m.yaml": "contact_sources:\n  - csv: leads.csv\n",
                         "leads.csv": HEADER + "p1,Ana,One,p1@example.com,vip,T\np3,Cy,Three,p3@example.com\n"})
    contacts = load_desired(root).contacts
    assert contacts["p3"].emails == ("p3@example.com",)
    assert contacts["p3"].tags == () and contacts["p3"].fields == ()
    assert contacts["p1"].tags == ("vip",) and contacts["p1"].fields == (("title", "T"),)
