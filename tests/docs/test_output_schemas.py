"""The JSON Schemas of campaignctl's outputs (schemas/plan.schema.json, schemas/drift.schema.json)
validate real output: the first plan of the example project, a saved plan file, a plan refused by
the safety limits, and a plan and drift report after people acted (reply, moved card, removed
member, edited title). The schemas forbid undocumented keys, and docs/ describes every key."""

from __future__ import annotations

import json
import re
import shutil

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.conftest import EXAMPLE, REPO


def schema(name: str) -> dict:
    data = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def check(name: str, document: dict) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(document)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 2), result.output
    return result.stdout


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def people_acted(project) -> None:
    """Apply, then Maria replies and her card is moved by hand; emma-jones leaves inbound-en and a title changes."""
    run("apply", str(project), "--auto-approve")
    run("sandbox", "reply", "maria-garcia", "--dir", str(project))
    listed = run("state", "list", "--dir", str(project))
    card = re.search(r"clarky\.card\[sales\]\[maria-garcia\]\s+(\S+)", listed).group(1)
    run("sandbox", "move-card", card, "Qualified", "--dir", str(project))
    sales = project / "sales.yaml"
    sales.write_text(sales.read_text().replace("members: [john-smith, emma-jones]", "members: [john-smith]")
                     .replace('title: "Smith & Co – inbound"', 'title: "Smith & Co – renewal"'))


def test_plan_json_and_the_saved_plan_file_match_the_schema(project, tmp_path):
    first = json.loads(run("plan", str(project), "--format", "json"))
    check("plan", first)
    # Kalent candidates never seen before wait out the settle window (README: Kalent's dispatch window)
    assert {c["action"] for c in first["changes"]} == {"enroll", "create", "defer"}
    run("plan", str(project), "--out", str(tmp_path / "saved.json"))
    saved = json.loads((tmp_path / "saved.json").read_text())
    check("plan", saved)
    assert saved["campaigns_dir"] == "campaigns"


def test_a_refused_plan_matches_the_schema(project):
    text = (project / "campaignctl.yaml").read_text().replace("max_new_memberships_per_apply: 200",
                                                               "max_new_memberships_per_apply: 5")
    (project / "campaignctl.yaml").write_text(text)
    refused = CliRunner().invoke(main, ["plan", str(project), "--format", "json"])
    document = json.loads(refused.stdout)
    check("plan", document)
    assert document["safety"][0]["override"] == "--allow-large"


def test_plan_and_drift_after_people_acted_match_their_schemas(project):
    people_acted(project)
    plan = json.loads(run("plan", str(project), "--format", "json"))
    check("plan", plan)
    assert {c["action"] for c in plan["changes"]} == {"update", "manual", "defer"} and plan["diverged"]
    drift = json.loads(run("drift", str(project), "--format", "json"))
    check("drift", drift)
    assert drift["format_version"] == 1
    assert all(drift[k] for k in ("changes", "orphaned", "health", "diverged", "unmanaged"))


def test_an_undocumented_key_fails_the_schemas(project):
    document = json.loads(run("plan", str(project), "--format", "json"))
    with pytest.raises(jsonschema.ValidationError):
        check("plan", document | {"surprise": 1})
    with pytest.raises(jsonschema.ValidationError):
        check("plan", document | {"changes": [document["changes"][0] | {"surprise": 1}]})
    drift = json.loads(run("drift", str(project), "--format", "json"))
    with pytest.raises(jsonschema.ValidationError):
        check("drift", drift | {"surprise": 1})


def _property_names(node) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            names |= _property_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= _property_names(item)
    return names


@pytest.mark.parametrize("name,page", [("plan", "plan-json.md"), ("drift", "drift-json.md")])
def test_docs_describe_every_key_of_the_output(name, page):
    text = (REPO / "docs" / page).read_text()
    missing = sorted(key for key in _property_names(schema(name)) if f"`{key}`" not in text)
    assert not missing, f"docs/{page} does not describe {missing}"
