"""`campaignctl plan` end to end on a copy of the example project, over the in-process sandbox."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.render import MARKER
from reconciler.sandbox.hub import open_project_hub
from tests.apply._support import shift_state, sighted
from tests.conftest import EXAMPLE


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)



def test_plan_of_the_example_project(project):
    first = run("plan", str(project))
    assert first.exit_code == 0, first.output
    assert first.output.rstrip().endswith("Plan: 11 to enroll, 7 to create, 3 deferred; 0 unchanged.")
    assert "> defer     kalent.membership[backend-outreach][cand_789]  Kalent starts asynchronously: no sequence " \
           "for candidate cand_789 since" in first.output
    shift_state(project, 660)
    # a plan records nothing: a settle window later the candidates are still only just seen as absent
    still = run("plan", str(project))
    assert still.output.rstrip().endswith("Plan: 11 to enroll, 7 to create, 3 deferred; 0 unchanged.")
    sighted(project)  # an apply's read records the first absent read (nothing sent), then the window passes
    result = run("plan", str(project))
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("Plan: 14 to enroll, 7 to create; 0 unchanged.")
    assert "Irreversible: 14 enrollments will send real messages." in result.output
    assert "+ enroll    kalent.membership[backend-outreach][cand_789]  sends messages (irreversible)" in result.output
    assert "\x1b[" not in result.output


def test_detailed_exitcode_is_2_with_changes_and_0_in_sync(project):
    sighted(project)
    assert run("plan", str(project), "--detailed-exitcode").exit_code == 2
    assert run("apply", str(project), "--auto-approve").exit_code == 0
    again = run("plan", str(project), "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes. 21 unchanged" in again.output


def test_saved_plan_is_private_json_and_applies(project, tmp_path):
    sighted(project)
    out = tmp_path / "plan.json"
    result = run("plan", str(project), "--out", str(out), "--format", "json")
    assert result.exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    saved, printed = json.loads(out.read_text()), json.loads(result.stdout)
    assert saved["manifest_digest"] == printed["manifest_digest"] and saved["changes"] == printed["changes"]
    assert len(saved["changes"]) == 21 and saved["format_version"] == 1
    applied = run("apply", str(out))
    assert applied.exit_code == 0 and "Apply complete: 14 enrolled, 7 created." in applied.output


def test_target_globs_limit_the_plan(project):
    result = run("plan", str(project), "--format", "json", "--target", "gary.*", "--target", "kalent.blueprint*")
    addresses = [c["address"] for c in json.loads(result.stdout)["changes"]]
    assert len(addresses) == 7 and all(a.startswith(("gary.", "kalent.blueprint")) for a in addresses)


def test_markdown_for_a_pr_comment_masks_pii(project):
    result = run("plan", str(project), "--format", "markdown", "--mask-pii")
    assert result.exit_code == 0
    assert result.stdout.startswith(MARKER)
    for pii in ("maria-garcia", "Maria", "García", "maria@example.com"):
        assert pii not in result.stdout
    assert "clarky.card[sales][m***]" in result.stdout


def test_markdown_stays_under_max_chars_and_points_to_the_full_plan(project, tmp_path):
    """Issue 20: a cut comment carries the totals and points to the full text plan written beside it."""
    sighted(project)
    text_out = tmp_path / "plan.txt"
    result = run("plan", str(project), "--format", "markdown", "--mask-pii", "--max-chars", "2500",
                 "--full-plan-link", "artifact `campaignctl-plan-abc`", "--text-out", str(text_out))
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert len(md) <= 2500 and md.startswith(MARKER)
    assert "**Plan: 14 to enroll, 7 to create; 0 unchanged.**" in md
    assert "**14 irreversible enrollments** will send real messages" in md
    assert "not shown: this comment is kept under 2,500 characters." in md
    assert md.rstrip().endswith("**Full plan:** artifact `campaignctl-plan-abc`")
    full = text_out.read_text()
    assert stat.S_IMODE(text_out.stat().st_mode) == 0o600
    assert full.count("+ enroll ") == 14 and full.rstrip().endswith("Plan: 14 to enroll, 7 to create; 0 unchanged.")
    assert "maria-garcia" not in full and "Maria" not in full  # masked like the comment
    assert run("plan", str(project), "--format", "markdown", "--max-chars", "1999").exit_code == 1


def test_markdown_shows_the_warnings_the_text_plan_shows(project):
    """Issue 20: "Kalent does not know candidate …" used to appear in the text plan only."""
    sighted(project)
    assert run("apply", str(project), "--auto-approve").exit_code == 0
    hub = open_project_hub(project)
    hub.store.collection("kalent.candidates").delete("cand_456")  # deleted in Kalent after we started it
    hub.store.commit()
    hub.store.close()
    md = run("plan", str(project), "--refresh", "--format", "markdown").stdout
    plain = run("plan", str(project), "--refresh").stdout
    warnings = [line.removeprefix("Warning: ") for line in plain.splitlines() if line.startswith("Warning: ")]
    assert any("Kalent does not know candidate cand_456" in w for w in warnings)
    assert "**Warnings (" in md and all(f"- {w}" in md for w in warnings)


def test_a_plan_over_the_safety_limit_is_shown_then_refused(project):
    sighted(project)
    text = (project / "campaignctl.yaml").read_text().replace("max_new_memberships_per_apply: 200",
                                                               "max_new_memberships_per_apply: 5")
    (project / "campaignctl.yaml").write_text(text)
    result = CliRunner().invoke(main, ["plan", str(project)])
    assert result.exit_code == 1
    assert "Plan: 14 to enroll, 7 to create" in result.stdout  # rendered in full first
    assert "--allow-large" in result.output
    refused = CliRunner().invoke(main, ["apply", str(project), "--auto-approve"])
    assert refused.exit_code == 1 and "--allow-large" in refused.output


def test_apply_without_a_tty_refuses_without_auto_approve(project):
    result = CliRunner().invoke(main, ["apply", str(project)])
    assert result.exit_code == 1 and "--auto-approve" in result.output


def test_a_manifest_error_is_file_line_and_exit_1(project):
    (project / "broken.yaml").write_text("sequences:\n  - {id: x, provider: nope, template: t, members: []}\n")
    result = CliRunner().invoke(main, ["plan", str(project)])
    assert result.exit_code == 1 and "broken.yaml:2:" in result.output and "Traceback" not in result.output


def test_a_missing_api_key_is_a_clear_error_naming_the_variable(project, monkeypatch):
    text = (project / "campaignctl.yaml").read_text().replace("    sandbox: true\n", "", 1)
    (project / "campaignctl.yaml").write_text(text)
    monkeypatch.delenv("CLARKY_API_KEY", raising=False)
    monkeypatch.delenv("CAMPAIGNCTL_SANDBOX", raising=False)
    result = CliRunner().invoke(main, ["plan", str(project)])
    assert result.exit_code == 1 and "CLARKY_API_KEY" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("glob,address,hit", [
    ("clarky.card[sales]*", "clarky.card[sales][maria-garcia]", True),
    ("clarky.card[s]*", "clarky.card[sales][maria-garcia]", False),
    ("*[maria-garcia]", "gary.membership[nurture][maria-garcia]", True),
    ("gary.membership[nurture][?aria-garcia]", "gary.membership[nurture][maria-garcia]", True),
    ("gary.*", "kalent.membership[x][y]", False),
])
def test_target_globs_take_brackets_literally(glob, address, hit):
    from reconciler.orchestrate import target_matches

    assert target_matches(address, glob) is hit


def test_target_with_brackets_on_the_command_line(project):
    result = run("plan", str(project), "--format", "json", "--target", "clarky.card[sales]*")
    addresses = [c["address"] for c in json.loads(result.stdout)["changes"]]
    assert len(addresses) == 6 and all(a.startswith("clarky.card[sales][") for a in addresses)


def test_a_saved_plan_finds_its_project_from_any_directory(project, tmp_path, monkeypatch):
    sighted(project)
    out = tmp_path / "plans" / "p.json"
    out.parent.mkdir()
    assert run("plan", str(project), "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text())["campaigns_dir"] == "../campaigns"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = run("apply", str(out))
    assert applied.exit_code == 0 and "Apply complete: 14 enrolled, 7 created." in applied.output


@pytest.mark.parametrize("tty,no_color,expected", [(True, None, True), (True, "1", False), (True, "", False),
                                                    (False, None, False)])
def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch, tty, no_color, expected):
    from reconciler.cli import app

    monkeypatch.setattr(app, "is_tty", lambda *a: tty)
    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color is not None:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert app.use_color() is expected


def test_a_command_leaves_nothing_frozen_from_the_cyclic_gc(project, tmp_path):
    """plan/apply freeze what their session loaded (cli/app.py command_session) and unfreeze it when
    the session closes, also when it fails to open: a process running many commands keeps collecting."""
    import gc

    assert gc.get_freeze_count() == 0
    assert run("plan", str(project)).exit_code == 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    (broken / "campaignctl.yaml").write_text("version: 1\nproviders: {nope: {type: nowhere}}\n")
    assert run("plan", str(broken)).exit_code == 1
    assert gc.get_freeze_count() == 0 and gc.isenabled()
