"""The `sandbox` commands as README.md shows them: `serve --faults` with README's own fault JSON,
located errors for bad fault JSON, the key shapes each served simulator accepts, and events on
unknown contacts or cards failing with exit 1."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.faults import FaultPlan
from tests.conftest import EXAMPLE, REPO
from tests.drift._support import ROOTS, serve_sandbox

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_faults() -> str:
    """The fault JSON README.md shows for `sandbox serve --faults`."""
    found = re.search(r"Faults: `(\{.*?\})`", README, re.S)
    assert found, "README.md no longer shows a --faults example"
    return found.group(1)


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    return root


def test_readme_fault_json_builds_the_plan_it_describes():
    plan = FaultPlan.from_dict(json.loads(readme_faults()))
    assert (plan.error_rate, plan.error_status, plan.drop_rate, plan.commit_timeout_rate, plan.latency) == \
        (0.1, 503, 0.02, 0.05, 0.2)
    assert plan.only is not None and plan.only.method == "WRITE"


def test_sandbox_serve_starts_with_readme_faults(project):
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--dir",
                             str(project), "--faults", readme_faults()], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"})
    try:
        first = proc.stdout.readline()
        assert first.startswith("Sandbox serving on http://127.0.0.1:"), first + proc.stderr.read()
        url = first.split()[3]
        faults = httpx.get(f"{url}/_sandbox/faults", timeout=5).json()
        assert faults["error_rate"] == 0.1 and faults["drop_rate"] == 0.02
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("faults,message", [
    ('{"error_rate": 0.1,', "--faults: not valid JSON at line 1, column 20"),
    ('{"error_rate": 0.1,\n "drop_rate": }', "--faults: not valid JSON at line 2, column 15"),
    ('[0.1]', "--faults: must be a JSON object"),
    ('{"eror_rate": 0.1}', "--faults: unknown key 'eror_rate'"),
    ('{"error_rate": "often"}', "--faults: error_rate must be a number"),
    ('{"error_rate": 1.5}', "--faults: error_rate must be between 0 and 1"),
    ('{"only": {"verb": "GET"}}', "--faults: only: unknown key 'verb'"),
    ('{"script": [{"status": 500}]}', "--faults: script[0]: needs \"kind\""),
])
def test_bad_fault_json_is_a_located_error_not_an_internal_error(project, faults, message):
    # A subprocess with a timeout: a plan that is wrongly accepted starts serving and never returns.
    result = subprocess.run([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--dir",
                             str(project), "--faults", faults], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert message in result.stderr and "internal error" not in result.stderr, result.stderr


KEY_SHAPES = {  # vendor -> (a key of the shape README.md states, a key the vendor refuses)
    "clarky": ("ck_live_anything", "anything"),
    "garyclub": ("gc_live_anything", "gc_live_x"),
    "kalent": ("anything", ""),
}


def test_readme_states_the_key_shapes_the_served_simulators_accept(tmp_path):
    said = re.search(r"point a\s+provider's `base_url` at it.*?for end-to-end", README, re.S)
    assert said and "`ck_live_" in said.group(0) and "`gc_live_`" in said.group(0), said and said.group(0)
    served = serve_sandbox(tmp_path)
    try:
        for vendor, (good, bad) in KEY_SHAPES.items():
            url = served.url + ROOTS[vendor] + {"clarky": "/contacts", "garyclub": "/me",
                                                "kalent": "/sourcings"}[vendor]
            headers = {"clarky": lambda k: {"Authorization": f"Bearer {k}"},
                       "garyclub": lambda k: {"Authorization": f"Bearer {k}"},
                       "kalent": lambda k: {"x-api-key": k}}[vendor]
            assert httpx.get(url, headers=headers(good), timeout=5).status_code == 200, vendor
            assert httpx.get(url, headers=headers(bad), timeout=5).status_code == 401, vendor
    finally:
        served.close()


@pytest.mark.parametrize("args,unknown", [
    (["reply", "ghost"], "ghost"),
    (["reply", "ghost@example.com", "--vendor", "clarky"], "ghost@example.com"),
    (["unsubscribe", "ghost@example.com"], "ghost@example.com"),
    (["move-card", "pc_99999999", "Qualified"], "pc_99999999"),
    (["move-card", "deal_nope", "Qualified"], "deal_nope"),
    (["archive-card", "pc_99999999"], "pc_99999999"),
])
def test_sandbox_events_on_unknown_objects_exit_1(project, args, unknown):
    result = CliRunner().invoke(main, ["sandbox", *args, "--dir", str(project)])
    assert result.exit_code == 1, result.output
    assert unknown in result.output and "internal error" not in result.output


def test_a_sandbox_event_that_some_vendor_does_exits_0(project):
    assert CliRunner().invoke(main, ["apply", str(project), "--auto-approve"]).exit_code == 0
    result = CliRunner().invoke(main, ["sandbox", "reply", "maria-garcia", "--dir", str(project)])
    assert result.exit_code == 0, result.output
    assert "garyclub:" in result.output


def test_a_sandbox_event_with_a_bad_stage_exits_1(project):
    assert CliRunner().invoke(main, ["apply", str(project), "--auto-approve"]).exit_code == 0
    listed = CliRunner().invoke(main, ["state", "list", "--dir", str(project)]).output
    card = re.search(r"clarky\.card\[sales\]\[maria-garcia\]\s+(pc_\w+)", listed).group(1)
    result = CliRunner().invoke(main, ["sandbox", "move-card", card, "No Such Stage", "--dir", str(project)])
    assert result.exit_code == 1 and "No Such Stage" in result.output, result.output
