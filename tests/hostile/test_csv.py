"""A malformed CSV is a located error and nothing is planned or archived from it: an unclosed quote,
a quoted field spanning lines outside free text, duplicate, unnamed or unknown columns, no header."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.drift._support import serve_sandbox

HEADER = "id,first_name,email,company,notes\n"
ROWS = [f"p{i},Person{i},p{i}@example.com,Co{i},note {i}\n" for i in range(1, 7)]
MANIFEST = "contact_sources:\n  - csv: leads.csv\n"


def validate(make_project, csv_text: str) -> tuple[int, str]:
    root = make_project({"m.yaml": MANIFEST, "leads.csv": csv_text})
    result = CliRunner().invoke(main, ["validate", str(root)])
    return result.exit_code, result.stdout + result.stderr


def test_a_well_formed_csv_with_a_multiline_note_is_read(make_project):
    code, out = validate(make_project, HEADER + "".join(ROWS[:2]) + 'p9,Nine,p9@example.com,Co,"line one\nline two"\n')
    assert code == 0, out
    assert "Valid: 3 contacts" in out


@pytest.mark.parametrize("row2, words", [
    ('p2,Person2,"p2@example.com,Co2,note 2\n', "unclosed quote"),  # never closed: would swallow the rest
    ('p2,"Person2,p2@example.com,Co2,note 2\n', "unclosed quote"),
    ('p2,Person2,p2@example.com,Co2,"note 2\n', "other rows"),      # in free text, closed by row 5's quote
])
def test_an_unclosed_quote_is_an_error_at_its_line(make_project, row2, words):
    row5 = 'p5,Person5,p5@example.com,Co5,"\n'
    code, out = validate(make_project, HEADER + "".join([ROWS[0], row2, ROWS[2], ROWS[3], row5, ROWS[5]]))
    assert code == 1, out
    assert "camp/leads.csv:3:1:" in out and words in out


def test_a_quoted_line_break_outside_free_text_is_an_error(make_project):
    code, out = validate(make_project, HEADER + ROWS[0] + 'p2,Person2,p2@example.com,"Co\n2",note\n')
    assert code == 1
    assert "camp/leads.csv:3:1: a quoted field in column 'company' spans lines 3-4" in out


@pytest.mark.parametrize("header, col, words", [
    ("id,first_name,email,email,notes\n", 4, "duplicate column 'email'"),
    ("id,first_name,email,,notes\n", 4, "column 4 has no name"),
    ("id,First Name,email,company,notes\n", 2, "unknown column 'First Name'"),
    ("id,first_name,Email,phone,notes\n", 3, "unknown column 'Email'"),
])
def test_bad_header_columns_are_errors_at_the_header(make_project, header, col, words):
    code, out = validate(make_project, header + "p1,P,p1@example.com,x,y\n")
    assert code == 1
    assert f"camp/leads.csv:1:{col}: {words}" in out


def test_extra_columns_named_like_placeholders_are_still_fields(make_project):
    code, out = validate(make_project, "email,first_name,region\np1@example.com,P,emea\n")
    assert code == 0, out


def test_a_missing_header_row_says_so(make_project):
    code, out = validate(make_project, "".join(ROWS))
    assert code == 1
    assert "camp/leads.csv:1:1: the header row names no email or phone column (is the header row missing?" in out
    assert out.count("camp/leads.csv") == 1  # one clear line, not one per row


CARDS = """\
pipelines:
  - id: sales
    provider: clarky
    pipeline: Sales Pipeline
    prune: archive
    cards:
      - for_each: {tags_any: [lead]}
        stage: Lead
        title: "{first_name} card"
contact_sources:
  - csv: leads.csv
    tags: [lead]
"""


def test_a_malformed_csv_archives_nothing(tmp_path):
    """Eleven managed cards from the CSV; then an unclosed quote in row 2: apply refuses with the
    line, and no card is archived or created."""
    served = serve_sandbox(tmp_path)
    try:
        rows = [f"p{i},Person{i},p{i}@example.com,Co{i},note\n" for i in range(1, 12)]
        root = served.write({"m.yaml": CARDS})
        (root / "leads.csv").write_text(HEADER + "".join(rows))
        first = served.run("apply", str(root), "--auto-approve")
        assert first.code == 0, first.stderr
        writes = len(served.writes())
        rows[1] = 'p2,Person2,p2@example.com,Co2,"note\n'
        (root / "leads.csv").write_text(HEADER + "".join(rows))
        for command in (("plan", str(root)), ("apply", str(root), "--auto-approve", "--force")):
            result = served.run(*command)
            assert result.code == 1
            assert "leads.csv:3:1:" in result.stderr
        assert len(served.writes()) == writes
    finally:
        served.close()
