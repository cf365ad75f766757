"""Every file a project names is a regular file inside the campaigns directory (links followed),
within a size cap; a refused file's content is never echoed. `state.path` is never a directory and
never another program's file, which is neither chmodded nor written."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.confined import MAX_FILE_BYTES
from tests.conftest import PROJECT

LEAK = "TOKEN-FROM-OUTSIDE-ghp_abcdef"
CONTACTS = "contacts:\n  - {id: ana, emails: [ana@example.com]}\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret-looking CSV and YAML outside the campaigns directory."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.csv").write_text(f"email,first_name\n{LEAK}@example.com,{LEAK}\nnot-an-email,{LEAK}\n")
    (out / "secret.yaml").write_text(f"contacts:\n  - {{id: x, emails: ['{LEAK}']}}\n")
    return out


@pytest.mark.parametrize("csv", ["../outside/secret.csv", "sub/../../outside/secret.csv", "ABS"])
def test_csv_outside_the_directory_is_refused_without_echoing_it(make_project, outside, csv):
    csv = str(outside / "secret.csv") if csv == "ABS" else csv
    root = make_project({"m.yaml": CONTACTS + f"contact_sources:\n  - csv: {csv}\n"})
    for command in ("validate", "plan"):
        code, out = run(command, str(root))
        assert code == 1
        assert "camp/m.yaml:4:" in out and LEAK not in out and "internal error" not in out


def test_symlinked_csv_and_manifest_pointing_outside_are_refused(make_project, outside):
    root = make_project({"m.yaml": CONTACTS + "contact_sources:\n  - csv: leads.csv\n"})
    (root / "leads.csv").symlink_to(outside / "secret.csv")
    (root / "more.yaml").symlink_to(outside / "secret.yaml")
    (root / "linked").symlink_to(outside, target_is_directory=True)  # a linked directory is not walked
    code, out = run("validate", str(root))
    assert code == 1 and LEAK not in out
    assert "camp/m.yaml:4:" in out and "symbolic link" in out
    assert "camp/more.yaml:1:1: cannot read file: resolves outside the campaigns directory" in out


def test_links_inside_the_directory_still_work(make_project):
    root = make_project({"m.yaml": CONTACTS + "contact_sources:\n  - csv: leads.csv\n",
                         "data/real.csv": "email,first_name\nbob@example.com,Bob\n"})
    (root / "leads.csv").symlink_to(root / "data" / "real.csv")
    code, out = run("validate", str(root))
    assert code == 0, out
    assert "Valid: 2 contacts" in out


@pytest.mark.parametrize("target", ["/dev/zero", "FIFO"])
def test_devices_and_fifos_are_refused_without_hanging(make_project, tmp_path, target):
    root = make_project({"m.yaml": CONTACTS + "contact_sources:\n  - csv: leads.csv\n"})
    if target == "FIFO":
        os.mkfifo(root / "leads.csv")
        os.mkfifo(root / "pipe.yaml")
    else:
        (root / "leads.csv").symlink_to(target)
        (root / "zero.yaml").symlink_to(target)
    # A subprocess with a timeout: a regression hangs here instead of hanging the suite.
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", str(root)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "camp/m.yaml:4:" in proc.stderr and "internal error" not in proc.stderr
    assert ("not a regular file" in proc.stderr) or ("outside the campaigns directory" in proc.stderr)


def test_an_oversized_csv_is_refused(make_project):
    root = make_project({"m.yaml": CONTACTS + "contact_sources:\n  - csv: big.csv\n"})
    with open(root / "big.csv", "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    code, out = run("validate", str(root))
    assert code == 1 and "camp/m.yaml:4:" in out and "larger than" in out


def test_a_directory_as_csv_is_a_located_error(make_project):
    root = make_project({"m.yaml": CONTACTS + "contact_sources:\n  - csv: data\n", "data/x.txt": "x"})
    code, out = run("validate", str(root))
    assert code == 1 and "camp/m.yaml:4:" in out and "directory" in out


def _project_with_state(path: str) -> str:
    return PROJECT.replace("version: 1\n", f"version: 1\nstate: {{backend: sqlite, path: {path}}}\n")


@pytest.mark.parametrize("path", [".", "data"])
def test_state_path_that_is_a_directory_is_refused_and_not_chmodded(make_project, path):
    root = make_project({"m.yaml": CONTACTS, "data/keep.txt": "x"}, project=_project_with_state(path))
    target = root / path
    os.chmod(target, 0o755)
    for command in ("validate", "plan", "state list"):
        code, out = run(*command.split(), *(["--dir"] if command == "state list" else []), str(root))
        assert code == 1, out
        assert "camp/campaignctl.yaml:2:" in out and "directory" in out and "internal error" not in out
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755


def test_state_path_at_another_applications_sqlite_database_is_refused_untouched(make_project):
    root = make_project({"m.yaml": CONTACTS}, project=_project_with_state("app.db"))
    db = sqlite3.connect(root / "app.db")
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    os.chmod(root / "app.db", 0o644)
    before = (root / "app.db").read_bytes()
    for command in ("validate", "plan"):
        code, out = run(command, str(root))
        assert code == 1 and "another application's SQLite database" in out, out
    assert (root / "app.db").read_bytes() == before
    assert stat.S_IMODE(os.stat(root / "app.db").st_mode) == 0o644


def test_state_path_at_a_plain_file_is_refused_untouched(make_project):
    root = make_project({"m.yaml": CONTACTS, "notes.txt": "my notes\n"}, project=_project_with_state("notes.txt"))
    os.chmod(root / "notes.txt", 0o644)
    code, out = run("plan", str(root))
    assert code == 1 and "not a campaignctl state" in out
    assert (root / "notes.txt").read_text() == "my notes\n"
    assert stat.S_IMODE(os.stat(root / "notes.txt").st_mode) == 0o644


def test_an_existing_campaignctl_state_is_reused(make_project):
    root = make_project({"m.yaml": CONTACTS}, project=_project_with_state("my.db"))
    assert run("plan", str(root))[0] == 0
    assert run("plan", str(root))[0] == 0  # the second run opens the state the first one made
    assert stat.S_IMODE(os.stat(root / "my.db").st_mode) == 0o600


def test_a_project_file_linked_outside_is_refused(make_project, outside):
    (outside / "campaignctl.yaml").write_text(PROJECT + f"# {LEAK}\n")
    root = make_project({"m.yaml": CONTACTS}, project=None)
    (root / "campaignctl.yaml").symlink_to(outside / "campaignctl.yaml")
    code, out = run("validate", str(root))
    assert code == 1 and LEAK not in out
    assert "camp/campaignctl.yaml:1:1: cannot read file: resolves outside the campaigns directory" in out
