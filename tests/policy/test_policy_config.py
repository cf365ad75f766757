"""`policy:` in campaignctl.yaml: every mistake is a located error (file:line), nothing is planned."""

from __future__ import annotations

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.desired import load_desired
from tests.conftest import PROJECT

MANIFEST = """\
contacts:
  - {id: ana, emails: [ana@example.com], tags: [x]}
  - {id: bo, emails: [bo@corp.example], phone_numbers: ["+34911234567"], tags: [x]}
sequences:
  - {id: a, provider: clarky, template: tpl_1, members: [ana]}
  - {id: b, provider: gary, sequence: "Post-call nurture", members: [ana, bo]}
"""


def validate(root):
    return CliRunner().invoke(main, ["validate", str(root)])


def test_a_valid_policy_is_read_whole(make_project):
    root = make_project({"people.yaml": MANIFEST, "dnc.csv": "email,domain,phone\nx@y.example,,\n,corp.example,\n"
                                                            ",,+4915112345678\n"},
                        PROJECT + """\
policy:
  suppress:
    emails: [Ana@Example.com]
    domains: [competitor.example]
    phones: ["+34 911 23 45 67"]
    csv: [dnc.csv]
  exclusive: [{group: sales, sequences: [a, b]}]
  cooldown_days: 14
  send_windows:
    - {days: [mon, tue, wed, thu, fri], hours: "09:00-17:30", timezone: Europe/Madrid}
    - {days: [sat], hours: "10:00-24:00", timezone: America/New_York, sequences: [b]}
""")
    policy = load_desired(root).project.policy
    assert policy.declared and policy.vendor_opt_outs and policy.cooldown_days == 14
    assert {s.key for s in policy.suppressions} == {
        "email:ana@example.com", "domain:competitor.example", "phone:+34911234567", "email:x@y.example",
        "domain:corp.example", "phone:+4915112345678"}
    sources = {s.key: s.source for s in policy.suppressions}
    assert sources["domain:corp.example"] == "camp/dnc.csv:3"
    assert sources["email:ana@example.com"] == "camp/campaignctl.yaml:8"
    assert [g.name for g in policy.exclusive] == ["sales"]
    assert [w.describe() for w in policy.windows_for("b")] == ["sat 10:00-24:00 America/New_York"]
    assert [w.describe() for w in policy.windows_for("a")] == ["mon,tue,wed,thu,fri 09:00-17:30 Europe/Madrid"]


def test_every_mistake_is_a_located_error(make_project):
    root = make_project({"people.yaml": MANIFEST, "dnc.csv": "email,name\nx@y.example,X\n",
                         "dnc2.csv": "email,phone\nnot-an-email,\n,12345\n"},
                        PROJECT + """\
policy:
  suppress:
    emails: [not-an-email]
    domains: [nodot]
    phones: ["12345"]
    csv: [dnc.csv, dnc2.csv, missing.csv, /etc/passwd]
  exclusive:
    - {group: one, sequences: [a, ghost]}
    - {group: two, sequences: [a, b]}
  send_windows:
    - {days: [mon], hours: "17:00-09:00", timezone: Europe/Madrid}
    - {days: [mon], hours: "09:00-17:00", timezone: Mars/Olympus_Mons}
    - {days: [tue], hours: "09:00-17:00", timezone: UTC, sequences: [nope]}
""")
    result = validate(root)
    assert result.exit_code == 1
    out = result.output
    for line in [
        "camp/campaignctl.yaml:8:14: policy.suppress.emails: invalid email address 'not-an-email'",
        "camp/campaignctl.yaml:9:15: policy.suppress.domains: invalid email domain 'nodot'",
        "camp/campaignctl.yaml:10:14: policy.suppress.phones: phone number '12345' is not E.164",
        "camp/dnc.csv:1:1: unknown column(s) 'name'",
        "camp/dnc2.csv:2:1: invalid email address 'not-an-email'",
        "camp/dnc2.csv:3:1: phone number '12345' is not E.164",
        "camp/campaignctl.yaml:11:30: policy.suppress.csv: cannot read missing.csv",
        "camp/campaignctl.yaml:11:43: policy.suppress.csv: cannot read /etc/passwd: an absolute path",
        "camp/campaignctl.yaml:13:35: policy.exclusive: unknown sequence 'ghost'",
        "camp/campaignctl.yaml:14:32: policy.exclusive: sequence 'a' is already in group 'one'",
        "camp/campaignctl.yaml:16:21: policy.send_windows: hours '17:00-09:00'",
        "camp/campaignctl.yaml:17:43: policy.send_windows: unknown time zone 'Mars/Olympus_Mons'",
        "camp/campaignctl.yaml:18:70: policy.send_windows: unknown sequence 'nope'",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"
    assert "Traceback" not in out and "internal error" not in out


def test_the_schema_refuses_unknown_keys_and_wrong_types(make_project):
    root = make_project({"people.yaml": MANIFEST}, PROJECT + """\
policy:
  cooldown_days: -1
  exclusive: maybe
  surpress: {emails: [a@b.example]}
  send_windows:
    - {days: [someday], hours: "9-5", timezone: UTC}
""")
    result = validate(root)
    assert result.exit_code == 1
    assert result.output.count("camp/campaignctl.yaml:") >= 4, result.output
    assert "surpress" in result.output


def test_the_suppression_csv_is_part_of_the_manifest_digest(make_project):
    root = make_project({"people.yaml": MANIFEST, "dnc.csv": "email\nx@y.example\n"},
                        PROJECT + "policy:\n  suppress: {csv: [dnc.csv]}\n")
    before = load_desired(root).digest
    (root / "dnc.csv").write_text("email\nx@y.example\nana@example.com\n")
    assert load_desired(root).digest != before
