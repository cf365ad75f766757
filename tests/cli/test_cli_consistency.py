"""The command line says what is true and takes the directory one way everywhere: --target that
matches nothing, exit codes of --detailed-exitcode, saved plans applied from anywhere, the safety
refusal of a saved plan, --dir on every command, CAMPAIGNCTL_SANDBOX with a base_url path prefix,
and --version from the package metadata."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.apply._support import sighted
from tests.conftest import EXAMPLE


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("CAMPAIGNCTL_SANDBOX", raising=False)
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)



@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_target_that_matches_no_change_is_an_error_not_no_changes(project, command):
    result = run(command, str(project), "--target", "clarky.card[sales][nobody]", "--auto-approve"
                 ) if command == "apply" else run(command, str(project), "--target", "clarky.card[sales][nobody]")
    assert result.exit_code == 1, result.output
    assert "No changes" not in result.output and "Nothing to apply" not in result.output
    assert "--target 'clarky.card[sales][nobody]' matches none of the 21 planned changes" in result.output


def test_a_target_in_sync_project_is_no_changes(project):
    sighted(project)
    assert run("apply", str(project), "--auto-approve").exit_code == 0
    result = run("plan", str(project), "--target", "clarky.card[sales][nobody]")
    assert result.exit_code == 0 and "No changes." in result.output


def test_detailed_exitcode_is_0_when_only_manual_items_remain(project):
    assert run("apply", str(project), "--auto-approve").exit_code == 0
    sales = project / "sales.yaml"
    sales.write_text(sales.read_text().replace("members: [john-smith, emma-jones]", "members: [john-smith]"))
    result = run("plan", str(project), "--detailed-exitcode")
    assert "! manual    clarky.membership[inbound-en][emma-jones]" in result.output
    assert result.exit_code == 0, result.output          # nothing apply can do: like Terraform, 0
    assert "Nothing to apply." in run("apply", str(project), "--auto-approve").output


def test_a_moved_saved_plan_is_applied_with_dir(project, tmp_path):
    sighted(project)
    out = tmp_path / "plan.json"
    assert run("plan", str(project), "--out", str(out)).exit_code == 0
    moved = tmp_path / "downloads" / "deep" / "plan.json"
    moved.parent.mkdir(parents=True)
    shutil.move(out, moved)
    lost = run("apply", str(moved))
    assert lost.exit_code == 1 and "--dir" in lost.output and "internal error" not in lost.output, lost.output
    applied = run("apply", str(moved), "--dir", str(project))
    assert applied.exit_code == 0 and "Apply complete: 14 enrolled, 7 created." in applied.output, applied.output


def test_a_saved_plan_over_the_safety_limit_names_the_flag_it_needs(project, tmp_path):
    sighted(project)
    text = (project / "campaignctl.yaml").read_text().replace("max_new_memberships_per_apply: 200",
                                                               "max_new_memberships_per_apply: 5")
    (project / "campaignctl.yaml").write_text(text)
    out = tmp_path / "plan.json"
    refused = CliRunner().invoke(main, ["plan", str(project), "--out", str(out)])
    assert refused.exit_code == 1
    assert f"apply it with `campaignctl apply {out}`." not in refused.stderr     # would be refused
    assert f"campaignctl apply {out} --allow-large" in refused.stderr, refused.stderr
    assert refused.stderr.index("14 new enrollments") < refused.stderr.index("Saved plan"), refused.stderr
    assert run("apply", str(out)).exit_code == 1
    assert run("apply", str(out), "--allow-large").exit_code == 0


def test_plan_with_the_override_flag_is_a_plan_not_a_refusal(project):
    text = (project / "campaignctl.yaml").read_text().replace("max_new_memberships_per_apply: 200",
                                                               "max_new_memberships_per_apply: 5")
    (project / "campaignctl.yaml").write_text(text)
    result = CliRunner().invoke(main, ["plan", str(project), "--allow-large", "--detailed-exitcode"])
    assert result.exit_code == 2, result.output
    assert "--allow-large" in result.output       # the limit is still shown, acknowledged


@pytest.mark.parametrize("args", [["validate"], ["plan"], ["drift"], ["apply", "--auto-approve"],
                                  ["state", "list"], ["sandbox", "advance", "1m"]])
def test_every_command_takes_dir(project, tmp_path, monkeypatch, args):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, [*args, "--dir", str(project)])
    assert result.exit_code in (0, 2), result.output


def test_the_old_positional_spelling_still_works_and_disagreeing_spellings_are_refused(project, tmp_path):
    assert run("validate", str(project)).exit_code == 0
    other = tmp_path / "other"
    result = CliRunner().invoke(main, ["validate", str(project), "--dir", str(other)])
    assert result.exit_code == 1 and "--dir" in result.output


def test_campaignctl_sandbox_routes_a_base_url_with_a_path_prefix(project, monkeypatch):
    text = (project / "campaignctl.yaml").read_text().replace("    sandbox: true\n", "")
    text = text.replace("    api_key_env: CLARKY_API_KEY\n",
                        "    api_key_env: CLARKY_API_KEY\n    base_url: https://gateway.example.com/vendors/clarky/api/v1\n")
    (project / "campaignctl.yaml").write_text(text)
    monkeypatch.setenv("CAMPAIGNCTL_SANDBOX", "1")
    result = CliRunner().invoke(main, ["plan", str(project), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert (summary["enroll"], summary["defer"]) == (11, 3)  # Kalent: first read of a candidate never seen


def test_version_comes_from_the_package_metadata():
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"campaignctl {version('campaignctl')}"
