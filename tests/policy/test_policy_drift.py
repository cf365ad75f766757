"""drift reports contact policy violations found live as their own category, and `--notify` posts
when they appear, change and clear (over a real loopback HTTP sandbox)."""

from __future__ import annotations

import json

import jsonschema

from tests.conftest import REPO
from tests.drift._support import project_yaml

FILES = {
    "contacts.yaml": """\
contacts:
  - {id: ana, first_name: Ana, emails: [ana@example.com], phone_numbers: ["+34911234567"]}
  - {id: ben, first_name: Ben, emails: [ben@example.com], phone_numbers: ["+34911234568"]}
""",
    "sequences.yaml": """\
sequences:
  - {id: inbound, provider: clarky, template: tpl_01HABC, members: [ana, ben]}
  - {id: nurture, provider: gary, sequence: "Post-call nurture", members: [ana]}
""",
}


def test_violations_found_live_are_reported_and_notified_on_transitions(served, receiver):
    root = served.write(FILES)
    assert served.run("apply", str(root), "--auto-approve").code == 0   # no policy yet: Ana is in both

    def with_policy(policy: str) -> None:
        (root / "campaignctl.yaml").write_text(project_yaml(served.url) + policy)

    def drift() -> tuple[int, list[dict], dict]:
        result = served.run("drift", str(root), "--notify", receiver.url, "--format", "json")
        return result.code, [json.loads(b) for b in receiver.take()], json.loads(result.stdout)

    assert drift()[0] == 0                                  # in sync; no policy, nothing to say
    receiver.take()
    with_policy("policy:\n  exclusive: true\n")
    code, posts, report = drift()
    assert code == 2 and len(posts) == 1
    jsonschema.validate(report, json.loads((REPO / "schemas" / "drift.schema.json").read_text()))
    assert report["policy"] == [{
        "kind": "exclusive_overlap", "person": "ana", "address": "gary.membership[nurture][ana]",
        "addresses": ["clarky.membership[inbound][ana]", "gary.membership[nurture][ana]"],
        "problem": "exclusive (all sequences): 2 active enrollments at once (clarky/inbound, gary/nurture)"}]
    assert report["changes"] == [] and report["drifted"] is True
    assert "1 policy violations" in posts[0]["text"] and "• gary.membership[nurture][ana]" in posts[0]["text"]
    assert drift()[1] == []                                  # the same violation again: quiet

    with_policy("policy:\n  exclusive: true\n  suppress: {phones: [\"+34911234568\"]}\n")
    code, posts, report = drift()                            # Ben is suppressed but active: it changed
    assert code == 2 and len(posts) == 1
    assert {(i["kind"], i["person"]) for i in report["policy"]} == {("exclusive_overlap", "ana"),
                                                                  ("suppressed_active", "ben")}
    ben = next(i for i in report["policy"] if i["person"] == "ben")
    assert ben["address"] == "clarky.membership[inbound][ben]"
    assert ben["problem"].startswith("suppressed (phone '+34911234568' is listed in ")

    text = served.run("drift", str(root))
    assert "Policy violations (found live):" in text.stdout
    assert "Drift found: 0 changes, 0 orphaned, 0 health, 2 policy violations, 0 diverged (allowed)" in text.stdout

    with_policy("")                                          # the policy is withdrawn: cleared, said once
    code, posts, report = drift()
    assert code == 0 and len(posts) == 1 and posts[0]["drifted"] is False and report["policy"] == []
