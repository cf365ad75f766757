"""The plan JSON's `policy` object and the drift report's `policy` list, as documented: real output
of the contact-policy example validates against the schemas, and docs/ names every rule and kind."""

from __future__ import annotations

import json
import shutil

import jsonschema
from click.testing import CliRunner

from reconciler.cli import main
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "contact-policy"


def schema(name: str) -> dict:
    return json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_the_example_plan_and_drift_match_their_schemas(tmp_path, monkeypatch):
    root = tmp_path / "contact-policy"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    code, out = run("plan", str(root), "--format", "json")
    assert code == 0, out
    plan = json.loads(out)
    jsonschema.Draft202012Validator(schema("plan")).validate(plan)
    assert {d["rule"] for d in plan["policy"]["decisions"]} == {"suppress", "exclusive"}
    assert plan["policy"]["forecast"]["rows"]
    assert run("apply", str(root), "--auto-approve")[0] == 0
    text = (root / "campaignctl.yaml").read_text()
    with_overlap = text.replace("  exclusive: true", "  exclusive: false").split("  send_windows:")[0]
    (root / "campaignctl.yaml").write_text(with_overlap)
    assert run("apply", str(root), "--auto-approve")[0] == 0    # Maria and John now also in the nurture
    (root / "campaignctl.yaml").write_text(with_overlap.replace("  exclusive: false", "  exclusive: true"))
    code, out = run("drift", str(root), "--format", "json")
    assert code == 2, out
    report = json.loads(out)
    jsonschema.Draft202012Validator(schema("drift")).validate(report)
    assert {(i["kind"], i["person"]) for i in report["policy"]} == {("exclusive_overlap", "maria-garcia"),
                                                                  ("exclusive_overlap", "john-smith")}


def test_docs_name_every_rule_and_kind():
    plan_doc = (REPO / "docs" / "plan-json.md").read_text()
    for rule in schema("plan")["$defs"]["policy_decision"]["properties"]["rule"]["enum"]:
        assert f"`{rule}`" in plan_doc, rule
    drift_doc = (REPO / "docs" / "drift-json.md").read_text()
    for kind in schema("drift")["properties"]["policy"]["items"]["properties"]["kind"]["enum"]:
        assert f"`{kind}`" in drift_doc, kind
