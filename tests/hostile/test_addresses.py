"""Addresses always read back: a character that would break `provider.kind[group][key]` is refused
at validate (emails, candidate ids), and whatever the state already holds can be listed."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.model import Address
from reconciler.state import StateStore

SEQ = "sequences:\n  - {id: s, provider: clarky, template: tpl_1, members_where: {tags_any: [x]}}\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("email", ["ana]x@example.com", "ana[x]@example.com", "ana@exa]mple.com",
                                   "ana\x01@example.com", "ana@example.com\x7f", "<ana@example.com>",
                                   '"ana"@example.com', "ana,bob@example.com"])
def test_an_email_that_would_break_an_address_is_refused_at_validate(make_project, email):
    quoted = email.encode("unicode_escape").decode().replace('"', '\\"')
    root = make_project({"m.yaml": f'contacts:\n  - {{emails: ["{quoted}"], tags: [x]}}\n' + SEQ})
    for command in ("validate", "plan"):
        code, out = run(command, str(root))
        assert code == 1 and "camp/m.yaml:2:" in out and "invalid email address" in out, out
        assert "internal error" not in out


def test_an_email_with_a_bracket_in_a_csv_is_refused_at_its_line(make_project):
    root = make_project({"m.yaml": "contact_sources:\n  - {csv: l.csv, tags: [x]}\n" + SEQ,
                         "l.csv": "email,first_name\nok@example.com,Ok\nbad]x@example.com,Bad\n"})
    code, out = run("validate", str(root))
    assert code == 1 and "camp/l.csv:3:1: invalid email address 'bad]x@example.com'" in out


@pytest.mark.parametrize("cand", ["cand]1", "cand[1]", "cand 1", "cand\t1"])
def test_a_candidate_id_that_would_break_an_address_is_refused(make_project, cand):
    root = make_project({"m.yaml": f'sequences:\n  - {{id: k, provider: kalent, blueprint: b, sourcing: S,'
                                   f' candidates: ["{cand}"]}}\n'})
    code, out = run("validate", str(root))
    assert code == 1 and "camp/m.yaml:2:" in out and "candidate id" in out, out


def test_non_ascii_emails_stay_valid(make_project):
    root = make_project({"m.yaml": "contacts:\n  - {emails: [josé.núñez@correo.es], tags: [x]}\n"
                                   "  - {emails: [o'brien@example.ie], tags: [x]}\n" + SEQ})
    code, out = run("validate", str(root))
    assert code == 0, out


@pytest.mark.parametrize("key", ["x]y@example.com", "a]b]c", "weird[key"])
def test_any_key_round_trips_through_its_text(key):
    address = Address("clarky", "membership", "s", key)
    assert Address.parse(str(address)) == address


@pytest.mark.parametrize("text, parts", [
    ("clarky.membership[s][a]", ("clarky", "membership", "s", "a")),
    ("clarky.membership[s][a]b]", ("clarky", "membership", "s", "a]b")),
    ("clarky.membership[s][[a]", ("clarky", "membership", "s", "[a")),
    ("clarky.membership[s[t][a]", ("clarky", "membership", "s[t", "a")),
    ("clarky.membership[s][a]\n", ("clarky", "membership", "s", "a")),  # '$' before a final newline
    ("clarky.membership[s][]", None),
    ("clarky.membership[s]]", None),
    ("clarky.membership[s][a", None),
    ("clarky.membership[s]x[a]", None),
    ("Clarky.membership[s][a]", None),
])
def test_an_address_reads_the_same_the_first_time_and_after(text, parts):
    """Parse keeps each `provider.kind[group][` it read (a state repeats a few of them 100,000s of
    times): a text read after another with the same head reads as the pattern alone reads it."""
    for seen in ("clarky.membership[s][other]", "clarky.membership[s[t][other]"):
        Address.parse(seen)
    for _ in range(2):
        if parts is None:
            with pytest.raises(ValueError):
                Address.parse(text)
        else:
            assert Address.parse(text) == Address(*parts)


def test_state_list_and_plan_survive_rows_a_former_version_stored(make_project):
    """A state written before these checks holds an address with ']' in its key, and a row that is
    not an address at all: `state list` lists what it can and plan still runs."""
    root = make_project({"m.yaml": "contacts:\n  - {id: ana, emails: [ana@example.com], tags: [x]}\n" + SEQ})
    store = StateStore(root / ".campaignctl" / "state.db")
    store.remember(Address("clarky", "membership", "s", "x]y@example.com"), "enr_1", status="active")
    store.intent("apply-1", Address("clarky", "membership", "s", "x]y@example.com"), "enroll")
    store.close()
    db = sqlite3.connect(root / ".campaignctl" / "state.db")
    db.execute("INSERT INTO objects (address, provider, kind, updated_at) VALUES ('garbage', 'clarky', 'card', 'now')")
    db.commit()
    db.close()
    code, out = run("state", "list", "--dir", str(root))
    assert code == 0, out
    assert "clarky.membership[s][x]y@example.com]  enr_1" in out
    code, out = run("plan", str(root))
    assert code == 0, out


def test_an_unreadable_in_doubt_journal_row_is_a_warning_not_a_crash(make_project):
    root = make_project({"m.yaml": "contacts:\n  - {id: ana, emails: [ana@example.com], tags: [x]}\n" + SEQ})
    StateStore(root / ".campaignctl" / "state.db").close()
    db = sqlite3.connect(root / ".campaignctl" / "state.db")
    db.execute("INSERT INTO journal (apply_id, at, address, operation, phase) "
               "VALUES ('a1', 'now', 'garbage', 'enroll', 'intent')")
    db.commit()
    db.close()
    result = CliRunner().invoke(main, ["plan", str(root)])
    assert result.exit_code == 0, result.stderr
    assert "cannot be read; check the vendor by hand" in result.stdout + result.stderr
