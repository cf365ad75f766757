"""The pre-commit hook as pre-commit itself runs it: `pre-commit try-repo` clones a git repository of
campaignctl, installs it into pre-commit's own isolated environment (a `pip install` of the clone,
not this checkout) and runs `campaignctl-validate` on a user's repository holding the example project."""

from __future__ import annotations

import sys

from tests.install._support import clean_env, example_project, require, run, source_repo


def test_pre_commit_try_repo_validates_and_blocks_a_broken_manifest(tmp_path):
    require("pre_commit")
    src = source_repo(tmp_path / "campaignctl")
    user = tmp_path / "user-repo"
    camp = example_project(user / "campaigns")
    env = clean_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "example"]):
        assert run(cmd, user, env).returncode == 0
    try_repo = [sys.executable, "-m", "pre_commit", "try-repo", str(src), "campaignctl-validate", "--all-files"]

    ok = run(try_repo, user, env)
    assert ok.returncode == 0, ok.stdout[-4000:] + ok.stderr[-4000:]
    assert "campaignctl validate" in ok.stdout and "Passed" in ok.stdout, ok.stdout

    (camp / "broken.yaml").write_text("sequences:\n  - {id: x, provider: nobody, template: t}\n")
    assert run(["git", "add", "-A"], user, env).returncode == 0
    broken = run(try_repo, user, env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Failed" in broken.stdout and "campaigns/broken.yaml:2:" in broken.stdout, broken.stdout
