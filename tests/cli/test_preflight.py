"""Preflight: whatever can fail without a vendor write is found before the first irreversible one.

An output path that cannot be written (`plan --out`, `apply --report`) is a clear error before any
request; a provider that no manifest (and nothing in the state) uses needs no API key.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.hub import open_project_hub
from tests.conftest import EXAMPLE


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("CLARKY_API_KEY", "GARY_API_KEY", "KALENT_API_KEY", "CAMPAIGNCTL_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def requests_made(root) -> int:
    hub = open_project_hub(root)
    try:
        return sum(hub.store.request_counts().values())
    finally:
        hub.store.close()


@pytest.mark.parametrize("where", ["a directory", "a missing directory", "under a file"])
def test_plan_out_that_cannot_be_written_is_a_clear_error_before_any_request(project, tmp_path, where):
    out = {"a directory": tmp_path, "a missing directory": tmp_path / "nope" / "plan.json",
           "under a file": project / "campaignctl.yaml" / "plan.json"}[where]
    result = run("plan", str(project), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output and f"--out {out}: " in result.output
    assert requests_made(project) == 0


@pytest.mark.parametrize("where", ["a directory", "a missing directory"])
def test_apply_report_that_cannot_be_written_is_found_before_anything_is_sent(project, tmp_path, where):
    report = tmp_path if where == "a directory" else tmp_path / "nope" / "report.json"
    result = run("apply", str(project), "--auto-approve", "--report", str(report))
    assert result.exit_code == 1, result.output
    assert f"--report {report}: " in result.output and "internal error" not in result.output
    assert requests_made(project) == 0  # not a single request, so certainly no send


def test_a_writable_report_is_written_and_the_check_leaves_no_file_behind_on_error(project, tmp_path):
    report = tmp_path / "report.json"
    result = run("apply", str(project), "--auto-approve", "--report", str(report))
    assert result.exit_code == 0, result.output
    written = json.loads(report.read_text())
    assert written["summary"].startswith("Apply complete: ") and "enrolled" in written["summary"]

    broken = tmp_path / "other.json"
    (project / "sales.yaml").write_text("sequences: [")  # fails validation after the output check
    assert run("apply", str(project), "--auto-approve", "--report", str(broken)).exit_code == 1
    assert not broken.exists()


def test_a_provider_no_manifest_uses_needs_no_key(project):
    config = project / "campaignctl.yaml"
    # gary is a real (not sandbox) account now, with no key exported; only the Gary manifest uses it
    config.write_text(config.read_text().replace("    api_key_env: GARY_API_KEY\n    sandbox: true\n",
                                                 "    api_key_env: GARY_API_KEY\n"))
    missing = run("plan", str(project))
    assert missing.exit_code == 1 and "GARY_API_KEY is not set" in missing.output  # used: the key is needed

    (project / "nurture.yaml").unlink()
    result = run("plan", str(project))
    assert result.exit_code == 0, result.output
    assert "gary" not in result.output.replace("garcia", "")
