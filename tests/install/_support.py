"""Shared set-up of the install tests: a copy of the source tree as a user would get it (the files a
clean checkout holds, in a git repository of its own) and subprocess helpers with a clean environment."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a clean checkout does not hold: local venvs, build output, caches, state of earlier runs.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                           ".pytest_cache", ".campaignctl", "*.tfplan")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing that would let the checkout leak into an install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CAMPAIGNCTL"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(REPO)) and p != str(Path(sys.executable).parent))
    env.update(GIT_ENV, NO_COLOR="1", **extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return done


def source_repo(dest: Path) -> Path:
    """The project's files copied to `dest` and committed to a new git repository there."""
    shutil.copytree(REPO, dest, ignore=NOT_IN_A_CHECKOUT)
    env = clean_env()
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "snapshot"]):
        done = run(cmd, dest, env)
        assert done.returncode == 0, done.stderr
    return dest


def example_project(dest: Path) -> Path:
    """A copy of the example campaigns directory (sandbox providers), without state of earlier runs."""
    shutil.copytree(REPO / "campaigns", dest, ignore=shutil.ignore_patterns(".campaignctl"))
    return dest


def require(module: str) -> None:
    """Fail with the fix when a dev tool is missing (a venv made before it joined the dev extra)."""
    assert importlib.util.find_spec(module), f"{module} is not installed: run pip install -e '.[dev]' again"
