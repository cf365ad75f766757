"""validate: every bad input gets an exact, located message; good input builds a stable model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.desired import load_desired
from reconciler.errors import ConfigError, ManifestError
from tests.conftest import EXAMPLE, PROJECT, REPO

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"b{i}: &b{i} [{', '.join(['*' + ('a' if i == 0 else f'b{i - 1}')] * 9)}]\n" for i in range(20)
)

INVALID = {
    "unknown key": (
        {"m.yaml": "contacts:\n  - id: a\n    emails: [a@example.com]\n    nickname: Al\n"},
        ["camp/m.yaml:4:5: contacts.0: unknown key 'nickname'"],
    ),
    "email and phone syntax": (
        {"m.yaml": "contacts:\n  - id: a\n    emails: [not-an-email]\n    phone_numbers: ['0911234567']\n"},
        ["camp/m.yaml:3:5: invalid email address 'not-an-email'",
         "camp/m.yaml:4:5: phone number '0911234567' is not E.164 (like +34911234567)"],
    ),
    "duplicate id and identity across files": (
        {"a.yaml": "contacts:\n  - id: a\n    emails: [a@example.com]\n",
         "b.yaml": "contacts:\n  - id: b\n    emails: [A@Example.com]\n  - id: a\n    emails: [other@example.com]\n"},
        ["camp/a.yaml:2:5: contacts 'a' and 'b' share the email 'a@example.com'; one person must be one contact "
         "(also declared at camp/b.yaml:2:5)",
         "camp/a.yaml:2:5: duplicate contact id 'a' (also declared at camp/b.yaml:4:5)",
         "camp/b.yaml:2:5: contacts 'a' and 'b' share the email 'a@example.com'; one person must be one contact "
         "(also declared at camp/a.yaml:2:5)",
         "camp/b.yaml:4:5: duplicate contact id 'a' (also declared at camp/a.yaml:2:5)"],
    ),
    # A person is every identifier they have (issue 13): any shared one is an error at both places.
    "a phone shared between YAML and CSV": (
        {"m.yaml": "contacts:\n  - id: maria\n    emails: [maria@example.com]\n    phone_numbers: ['+34911234567']\n"
                   "contact_sources:\n  - csv: leads.csv\n",
         "leads.csv": "id,first_name,phone\nmaria-2,Maria,+34 911 234 567\n"},
        ["camp/leads.csv:2:1: contacts 'maria-2' and 'maria' share the phone '+34911234567'; one person must be one "
         "contact (also declared at camp/m.yaml:2:5)",
         "camp/m.yaml:2:5: contacts 'maria-2' and 'maria' share the phone '+34911234567'; one person must be one "
         "contact (also declared at camp/leads.csv:2:1)"],
    ),
    "a secondary email written another way": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com, 'shared@m\u00fcller.de']}\n"
                   "  - {id: b, emails: [b@example.com, ' \u200bSHARED@xn--mller-kva.de ']}\n"},
        ["camp/m.yaml:2:5: contacts 'a' and 'b' share the email 'shared@xn--mller-kva.de'; one person must be one "
         "contact (also declared at camp/m.yaml:3:5)",
         "camp/m.yaml:3:5: contacts 'a' and 'b' share the email 'shared@xn--mller-kva.de'; one person must be one "
         "contact (also declared at camp/m.yaml:2:5)"],
    ),
    "a shared kalent candidate id": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com], kalent_candidate_id: cand_1}\n"
                   "  - {id: b, emails: [b@example.com], kalent_candidate_id: cand_1}\n"},
        ["camp/m.yaml:2:5: contacts 'a' and 'b' share the candidate id 'cand_1'; one person must be one contact "
         "(also declared at camp/m.yaml:3:5)",
         "camp/m.yaml:3:5: contacts 'a' and 'b' share the candidate id 'cand_1'; one person must be one contact "
         "(also declared at camp/m.yaml:2:5)"],
    ),
    "two sequences on one kalent blueprint share a candidate": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com], kalent_candidate_id: cand_1}\n"
                   "sequences:\n  - {id: s1, provider: kalent, blueprint: bp_1, sourcing: Eng, members: [a]}\n"
                   "  - {id: s2, provider: kalent, blueprint: bp_1, sourcing: Eng, candidates: [cand_1]}\n"},
        ["camp/m.yaml:4:5: candidate 'cand_1' is a member of sequences 's1' and 's2', which both run kalent blueprint "
         "'bp_1': a person is enrolled once per vendor sequence; keep it in one (also declared at camp/m.yaml:5:5)",
         "camp/m.yaml:5:5: candidate 'cand_1' is a member of sequences 's1' and 's2', which both run kalent blueprint "
         "'bp_1': a person is enrolled once per vendor sequence; keep it in one (also declared at camp/m.yaml:4:5)"],
    ),
    "two sequences on one clarky template share a contact": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com]}\n"
                   "sequences:\n  - {id: s1, provider: clarky, template: tpl_1, members: [a]}\n"
                   "  - {id: s2, provider: clarky, template: tpl_1, members: [a]}\n"},
        ["camp/m.yaml:4:5: contact 'a' is a member of sequences 's1' and 's2', which both run clarky template "
         "'tpl_1': a person is enrolled once per vendor sequence; keep it in one (also declared at camp/m.yaml:5:5)",
         "camp/m.yaml:5:5: contact 'a' is a member of sequences 's1' and 's2', which both run clarky template "
         "'tpl_1': a person is enrolled once per vendor sequence; keep it in one (also declared at camp/m.yaml:4:5)"],
    ),
    "unknown provider": (
        {"m.yaml": "sequences:\n  - id: s\n    provider: hubspot\n    template: tpl_1\n"},
        ["camp/m.yaml:3:5: unknown provider 'hubspot' (providers in campaignctl.yaml: clarky, gary, kalent)"],
    ),
    "unknown member": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com]}\nsequences:\n  - id: s\n"
                   "    provider: clarky\n    template: tpl_1\n    members: [a, ghost]\n"},
        ["camp/m.yaml:7:18: unknown contact 'ghost' in members of sequence 's'"],
    ),
    "unknown card contact": (
        {"m.yaml": "pipelines:\n  - id: p\n    provider: clarky\n    pipeline: Sales\n"
                   "    cards:\n      - {contact: ghost, stage: Lead, title: T}\n"},
        ["camp/m.yaml:6:10: unknown contact 'ghost' in pipeline 'p'"],
    ),
    "provider type without the resource": (
        {"m.yaml": "pipelines:\n  - id: p\n    provider: kalent\n    pipeline: Sales\n"},
        ["camp/m.yaml:3:5: provider 'kalent' is kalent, which has no pipelines"],
    ),
    "setting of another vendor": (
        {"m.yaml": "sequences:\n  - id: s\n    provider: gary\n    template: tpl_1\n    sequence: Nurture\n"},
        ["camp/m.yaml:4:5: template: is not a garyclub sequence setting"],
    ),
    "kalent step rules": (
        {"m.yaml": "blueprints:\n  - id: b\n    provider: kalent\n    sourcing: Eng\n    name: B\n    steps:\n"
                   "      - {id: i1, name: I, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION, content: '',"
                   " temporalityType: ASAP}\n"
                   "      - {id: i2, name: I2, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION_WITH_MESSAGE, content: 'Hi {{first_name}}', temporalityType: ASAP}\n"
                   "      - {id: e, name: E, type: EMAIL, linkedInType: LINKEDIN_MESSAGE, subject: S, content: x, temporalityType: DELAYED}\n"},
        ["camp/m.yaml:8:44: step 2: only one invite step is allowed per blueprint (step 1 is one)",
         "camp/m.yaml:8:92: step 2: template variable {{first_name}} is not allowed (allowed: {{candidateCompanyName}}, "
         "{{candidateJobTitle}}, {{candidateLocation}}, {{firstname}}, {{lastname}}, {{recruiterFirstname}}, "
         "{{recruiterLastname}}, {{sourcingJobTitle}}, {{sourcingLocation}})",
         "camp/m.yaml:9:39: step 3: linkedInType is only allowed on LINKEDIN steps, not EMAIL",
         "camp/m.yaml:9:95: step 3: a DELAYED step needs delay: {value, unit}"],
    ),
    # Kalent's step table: "content | string | required" on every step, a plain LINKEDIN_INVITATION
    # included (Kalent stores its content as ""): without it the vendor answers 400.
    "kalent invitation without content": (
        {"m.yaml": "blueprints:\n  - id: b\n    provider: kalent\n    sourcing: Eng\n    name: B\n    steps:\n"
                   "      - {id: i1, name: I, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION,"
                   " temporalityType: ASAP}\n"},
        ["camp/m.yaml:7:9: blueprints.0.steps.0: 'content' is a required property"],
    ),
    "kalent blank content": (
        {"m.yaml": "blueprints:\n  - id: b\n    provider: kalent\n    sourcing: Eng\n    name: B\n    steps:\n"
                   "      - {id: i1, name: I, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION, content: '',"
                   " temporalityType: ASAP}\n"
                   "      - {id: m, name: M, type: WHATSAPP, content: '  ', temporalityType: ASAP}\n"},
        ['camp/m.yaml:8:42: step 2: content must not be blank (only a plain LINKEDIN_INVITATION may send "")'],
    ),
    "literal secret in a manifest": (
        {"m.yaml": "contacts:\n  - id: a\n    emails: [a@example.com]\n    notes: 'key is ck_live_abcdef123456'\n"},
        ["camp/m.yaml:4:5: this value looks like a literal API key; secrets come from the environment only (api_key_env)"],
    ),
    "yaml syntax": (
        {"m.yaml": "contacts:\n  - id: a\n    emails: [a@example.com\n"},
        ["camp/m.yaml:4:1: YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got '<stream end>'"],
    ),
    "duplicate yaml key": (
        {"m.yaml": "contacts: []\ncontacts: []\n"},
        ["camp/m.yaml:2:1: YAML syntax error: duplicate key 'contacts'"],
    ),
    "empty file": ({"m.yaml": "# nothing\n"}, ["camp/m.yaml:1:1: file is empty"]),
    "not utf-8": ({"m.yaml": b"contacts:\n  - id: caf\xe9\n"}, ["camp/m.yaml:2:1: file is not valid UTF-8 (byte 0xe9)"]),
    "yaml bomb": ({"m.yaml": BOMB}, ["camp/m.yaml:1:1: more than 100 YAML aliases at line 13 (refusing a possible YAML bomb)"]),
    "csv row with bad fields": (
        {"m.yaml": "contact_sources:\n  - csv: l.csv\n", "l.csv": "id,email,phone\nok,ok@example.com,\nbad,bad-email,+1\n"},
        ["camp/l.csv:3:1: invalid email address 'bad-email'",
         "camp/l.csv:3:1: phone number '+1' is not E.164 (like +34911234567)"],
    ),
    "missing csv": (
        {"m.yaml": "contact_sources:\n  - csv: nope.csv\n"},
        ["camp/m.yaml:2:5: cannot read CSV nope.csv: No such file or directory"],
    ),
    "placeholder without a value": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com], tags: [w]}\npipelines:\n  - id: p\n    provider: clarky\n"
                   "    pipeline: Sales\n    cards:\n      - for_each: {tags_any: [w]}\n        stage: Lead\n        title: '{company} webinar'\n"},
        ["camp/m.yaml:10:9: contact 'a' has no 'company' for placeholder {company} in title"],
    ),
    "two cards for one contact": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com], tags: [w]}\npipelines:\n  - id: p\n    provider: clarky\n"
                   "    pipeline: Sales\n    cards:\n      - {contact: a, stage: Lead, title: A}\n"
                   "      - {for_each: {tags_any: [w]}, stage: Lead, title: B}\n"},
        ["camp/m.yaml:9:9: contact 'a' already has a card in pipeline 'p' (declared at camp/m.yaml:8:9)"],
    ),
    "kalent member without candidate id": (
        {"m.yaml": "contacts:\n  - {id: a, emails: [a@example.com]}\nsequences:\n"
                   "  - {id: s, provider: kalent, blueprint: bp_1, sourcing: Eng, members: [a]}\n"},
        ["camp/m.yaml:4:63: contact 'a' has no kalent_candidate_id, so it cannot join kalent sequence 's'"],
    ),
    "duplicate sequence id": (
        {"a.yaml": "sequences:\n  - {id: s, provider: clarky, template: t1}\n",
         "b.yaml": "sequences:\n  - {id: s, provider: clarky, template: t2}\n"},
        ["camp/b.yaml:2:6: duplicate sequence id 's' (also declared at camp/a.yaml:2:5)"],
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_manifest_reports_exact_location(name, make_project):
    files, expected = INVALID[name]
    root = make_project(files)
    with pytest.raises(ManifestError) as err:
        load_desired(root)
    assert [str(p) for p in err.value.problems] == expected


def test_literal_api_key_in_project_file(make_project):
    root = make_project({}, project=PROJECT.replace("api_key_env: GARY_API_KEY", "api_key: gc_live_abcdefabcdef"))
    with pytest.raises(ManifestError) as err:
        load_desired(root)
    assert "camp/campaignctl.yaml:4:26: api_key: secrets must not be written in files; set api_key_env " \
           "to the name of an environment variable" in [str(p) for p in err.value.problems]


def test_missing_project_file_is_a_config_error(make_project):
    root = make_project({"m.yaml": "contacts: []\n"}, project=None)
    with pytest.raises(ConfigError, match="no campaignctl.yaml here"):
        load_desired(root)


def test_dot_directories_are_not_manifests(make_project):
    root = make_project({".campaignctl/junk.yaml": "not: [valid", "m.yaml": "contacts:\n  - {id: a, emails: [a@example.com]}\n"})
    assert list(load_desired(root).contacts) == ["a"]


def test_example_project_validates_and_builds():
    desired = load_desired(EXAMPLE)
    assert len(desired.contacts) == 12
    assert desired.summary() == {
        "clarky": {"memberships": 5, "cards": 6, "blueprints": 0},
        "gary": {"memberships": 6, "cards": 0, "blueprints": 0},
        "kalent": {"memberships": 3, "cards": 0, "blueprints": 1},
    }
    webinar = [c for p, c in desired.cards() if "webinar" in c.tags]
    assert sorted(c.title for c in webinar) == ["Martin SARL – webinar", "Müller GmbH – webinar",
                                               "Rossi Design – webinar", "Tanaka KK – webinar"]
    kalent = next(s for s in desired.sequences if s.id == "backend-outreach")
    assert [(str(m.address), m.candidate_id) for m in kalent.members] == [
        ("kalent.membership[backend-outreach][ana-souza]", "cand_123"),
        ("kalent.membership[backend-outreach][cand_789]", "cand_789"),
        ("kalent.membership[backend-outreach][tom-becker]", "cand_456"),
    ]
    assert kalent.sourcing == "Senior Backend Engineer"


def test_build_is_independent_of_file_order(make_project):
    a = "contacts:\n  - {id: a, emails: [a@example.com], tags: [t]}\n"
    b = "sequences:\n  - {id: s, provider: clarky, template: t1, members_where: {tags_any: [t]}}\n"
    first = load_desired(make_project({"1.yaml": a, "2.yaml": b}))
    for f in ("1.yaml", "2.yaml"):
        (first.project.root / f).unlink()
    second = load_desired(make_project({"2.yaml": a, "1.yaml": b}))
    assert first.contacts == second.contacts and first.sequences == second.sequences


@pytest.mark.parametrize("name", ["campaignctl", "manifest"])
def test_schemas_are_valid_and_documented(name):
    schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)

    def undocumented(node, path="#"):
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if "description" not in sub and "$ref" not in sub:
                    yield f"{path}/properties/{key}"
            for key, sub in node.items():
                yield from undocumented(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                yield from undocumented(sub, f"{path}/{i}")

    assert list(undocumented(schema)) == []


def test_cli_validate_valid_example():
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)], standalone_mode=False, catch_exceptions=False)
    assert "Valid: 12 contacts; clarky (clarky): 5 memberships, 6 cards;" in result.output


def test_cli_validate_invalid_prints_sorted_problems_and_exits_1(make_project):
    root = make_project({"m.yaml": "contacts:\n  - id: a\n    emails: [bad]\n  - id: b\n    emails: [worse]\n"})
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", str(root)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "camp/m.yaml:3:5: invalid email address 'bad'",
        "camp/m.yaml:5:5: invalid email address 'worse'",
        "2 problems found.",
    ]
    assert "Traceback" not in proc.stderr


def test_cli_missing_directory_is_one_line_exit_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope'}: not a directory (expected a campaigns directory with campaignctl.yaml)"


def test_cli_usage_error_exits_1():
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Error: No such option '--bogus'." in proc.stderr
