"""The example GitHub Actions workflows, run locally: the `run:` scripts of the steps with ids
validate/plan (pull request), apply (merge) and drift (nightly) go through bash in order, against
a running `campaignctl sandbox serve --port 0`; the artifact download is replaced by copying the
plan file the plan step wrote. Also the pre-commit hook's entry + args on the example project."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox.server import SandboxControl
from tests.drift._support import EXAMPLE, KEYS, Receiver, project_yaml
from tests.postgres_support import BACKENDS, pg_schema, project_state, state_env  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "examples" / "github-actions"
BIN = str(Path(sys.executable).parent)
MANIFEST = """\
contacts:
  - {id: ana, first_name: Ana, emails: [ana@example.com]}
  - {id: ben, first_name: Ben, emails: [ben@example.com]}
sequences:
  - {id: nurture, provider: gary, sequence: "Post-call nurture", members: [ana, ben]}
pipelines:
  - id: sales
    provider: clarky
    pipeline: Sales Pipeline
    cards:
      - {contact: ana, stage: Lead, title: Ana card}
"""


def steps(workflow: str) -> dict[str, str]:
    """step id -> its `run:` script."""
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return {s["id"]: s["run"] for job in data["jobs"].values() for s in job["steps"] if s.get("id") and s.get("run")}


@pytest.fixture
def sandbox_url(tmp_path):
    """`campaignctl sandbox serve --port 0` in a subprocess, seeded like the example project."""
    seeded = tmp_path / "sandbox"
    seeded.mkdir()
    shutil.copytree(EXAMPLE / ".sandbox", seeded / ".sandbox")
    (seeded / "campaignctl.yaml").write_text("version: 1\nproviders: {}\n")
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", "--no-rate-limits",
                             "--dir", str(seeded)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=30)
        assert first.startswith("Sandbox serving on "), first
        yield first.split()[3]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        reader.join(5)
        proc.stdout.close()
        proc.stderr.close()


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_workflows_keep_state_in_the_shared_database_not_in_a_cache():
    for name in ("campaignctl-plan.yml", "campaignctl-apply.yml", "campaignctl-drift.yml"):
        data = yaml.safe_load((WORKFLOWS / name).read_text())
        assert data["env"]["CAMPAIGNCTL_STATE_DSN"] == "${{ secrets.CAMPAIGNCTL_STATE_DSN }}", name
        uses = [s.get("uses", "") for job in data["jobs"].values() for s in job["steps"]]
        assert not [u for u in uses if u.startswith("actions/cache")], name


@pytest.mark.parametrize("backend", BACKENDS)
def test_pr_plan_then_merge_apply_then_nightly_drift(tmp_path, sandbox_url, backend, request):
    camp = tmp_path / "repo" / "campaigns"
    camp.mkdir(parents=True)
    (camp / "campaignctl.yaml").write_text(project_yaml(sandbox_url, extra=project_state(backend, tmp_path, request)))
    (camp / "team.yaml").write_text(MANIFEST)
    receiver = Receiver()
    outputs = tmp_path / "github_output"
    env = {**os.environ, **KEYS, **state_env(backend), "PATH": BIN + os.pathsep + os.environ["PATH"],
           "CAMPAIGNS_DIR": str(camp),
           "SLACK_WEBHOOK_URL": receiver.url, "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "PLAN_ARTIFACT": "campaignctl-plan-0123abcd",
           "RUN_URL": "https://github.example/o/r/actions/runs/42"}
    try:
        plan_job, apply_job, drift_job = (tmp_path / d for d in ("plan-job", "apply-job", "drift-job"))
        for job in (plan_job, apply_job, drift_job):
            job.mkdir()
        pr = steps("campaignctl-plan.yml")
        for step in ("validate", "plan"):
            done = bash(pr[step], plan_job, env)
            assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
        plan_md = (plan_job / "plan.md").read_text()
        assert plan_md.startswith("<!-- campaignctl-plan -->")
        assert "ana@example.com" not in plan_md            # --mask-pii for the PR comment
        assert "exit=2" in outputs.read_text()             # changes to apply
        assert "**Full plan:** artifact `campaignctl-plan-0123abcd`" in plan_md   # what the upload step names
        assert (plan_job / "plan.txt").read_text().count("+ ") == 3               # uploaded with plan.json
        planned = json.loads((plan_job / "plan.json").read_text())
        assert len(planned["changes"]) == 3

        shutil.copy(plan_job / "plan.json", apply_job / "plan.json")   # stands in for actions/download-artifact
        applied = bash(steps("campaignctl-apply.yml")["apply"], apply_job, env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        report = json.loads((apply_job / "apply-report.json").read_text())
        assert sorted(r["status"] for r in report["results"]) == ["ok", "ok", "ok"]

        nightly = steps("campaignctl-drift.yml")["drift"]
        quiet = bash(nightly, drift_job, env)
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
        assert (drift_job / "drift.md").read_text().startswith("<!-- campaignctl-drift -->")
        assert receiver.take() == []                       # in sync: nothing to post
        with SandboxControl(sandbox_url) as control:
            control.event("garyclub", "reply", contact="ben@example.com")
            found = bash(nightly, drift_job, env)
            assert found.returncode == 0, found.stderr     # drift found (2) is a report, not a failed job
            assert "paused: the contact replied" in (drift_job / "drift.md").read_text()
            posts = receiver.take()
            assert len(posts) == 1 and "gary.membership[nurture][ben]" in json.loads(posts[0])["text"]
            assert len(control.sends()) == 2               # ana and ben, once each
            assert all(n == 1 for n in control.sends().values())
        # with PostgreSQL, no state file is left on the runner: the journal is in the database
        assert (camp / ".campaignctl" / "state.db").exists() == (backend == "sqlite")
    finally:
        receiver.close()


def test_pre_commit_hook_validates_the_example_project(tmp_path):
    hook = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())[0]
    assert hook["id"] == "campaignctl-validate" and hook["pass_filenames"] is False
    shutil.copytree(EXAMPLE, tmp_path / "campaigns", ignore=shutil.ignore_patterns(".campaignctl"))
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    done = subprocess.run([*hook["entry"].split(), *hook["args"]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Valid: ")
    (tmp_path / "campaigns" / "broken.yaml").write_text("sequences:\n  - {id: x, provider: nobody, template: t}\n")
    broken = subprocess.run([*hook["entry"].split(), *hook["args"]], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert broken.returncode == 1 and "campaigns/broken.yaml:2:" in broken.stderr


def step_env(workflow: str, step_id: str) -> dict[str, str]:
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return next(s.get("env", {}) for job in data["jobs"].values() for s in job["steps"] if s.get("id") == step_id)


def test_a_large_rollout_needs_the_reviewed_label_in_plan_and_apply(tmp_path, sandbox_url):
    camp = tmp_path / "repo" / "campaigns"
    camp.mkdir(parents=True)
    (camp / "campaignctl.yaml").write_text(project_yaml(sandbox_url, extra="safety: {max_new_memberships_per_apply: 1}\n"))
    (camp / "team.yaml").write_text(MANIFEST)
    env = {**os.environ, **KEYS, "PATH": BIN + os.pathsep + os.environ["PATH"], "CAMPAIGNS_DIR": str(camp),
           "GITHUB_OUTPUT": str(tmp_path / "github_output"), "PR_LABELS": "documentation"}
    # The labels reach the steps only through these expressions (the PR's labels; the merged PR's, found by gh).
    assert step_env("campaignctl-plan.yml", "plan")["PR_LABELS"] == "${{ join(github.event.pull_request.labels.*.name, ' ') }}"
    assert step_env("campaignctl-apply.yml", "apply")["PR_LABELS"] == "${{ steps.find.outputs.labels }}"
    assert "labels=" in steps("campaignctl-apply.yml")["find"]
    plan_job, apply_job = tmp_path / "plan-job", tmp_path / "apply-job"
    plan_job.mkdir()
    apply_job.mkdir()
    plan_step = steps("campaignctl-plan.yml")["plan"]

    refused = bash(plan_step, plan_job, env)
    assert refused.returncode == 1                                   # the check fails without the label
    assert "Refused without `--allow-large`" in (plan_job / "plan.md").read_text()   # and the comment says why

    labelled = {**env, "PR_LABELS": "documentation campaignctl-allow-large"}
    planned = bash(plan_step, plan_job, labelled)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    shutil.copy(plan_job / "plan.json", apply_job / "plan.json")
    apply_step = steps("campaignctl-apply.yml")["apply"]
    unlabelled = bash(apply_step, apply_job, env)
    assert unlabelled.returncode == 1 and "--allow-large" in unlabelled.stderr
    applied = bash(apply_step, apply_job, labelled)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with SandboxControl(sandbox_url) as control:
        assert sorted(control.sends().values()) == [1, 1]


def test_the_install_steps_build_and_install_campaignctl_from_its_pinned_source(tmp_path):
    from tests.install._support import NOT_IN_A_CHECKOUT, clean_env, example_project

    job = tmp_path / "job"
    shutil.copytree(REPO, job / ".campaignctl-src", ignore=NOT_IN_A_CHECKOUT)   # stands in for actions/checkout
    example_project(job / "campaigns")
    venv = tmp_path / "runner-python"                                           # stands in for setup-python
    assert subprocess.run([sys.executable, "-m", "venv", str(venv)], timeout=120).returncode == 0
    env = clean_env(PATH=str(venv / "bin") + os.pathsep + clean_env()["PATH"], CAMPAIGNS_DIR="campaigns")
    for workflow in ("campaignctl-plan.yml", "campaignctl-apply.yml", "campaignctl-drift.yml"):
        data = yaml.safe_load((WORKFLOWS / workflow).read_text())
        assert "pip install campaignctl\n" not in (WORKFLOWS / workflow).read_text()   # nothing serves that yet
        assert data["env"]["CAMPAIGNCTL_REPO"] == "${{ github.repository }}"
    installed = bash(steps("campaignctl-plan.yml")["install"], job, env)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert installed.stdout.strip().splitlines()[-1].startswith("campaignctl ")
    assert (venv / "bin" / "campaignctl").exists()
    validated = bash(steps("campaignctl-plan.yml")["validate"], job, env)
    assert validated.returncode == 0 and validated.stdout.startswith("Valid: "), validated.stdout + validated.stderr
