"""YAML: aliases cannot blow up what is built or walked, and every construct gets a located error."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from reconciler.cli import main

CONTACT = "contacts:\n  - id: ana\n    emails: [ana@example.com]\n"


def bomb(leaf: str = "xxxxxxxx") -> str:
    """96 aliases in three levels of 32 (under the 100-alias guard): 32^3 copies of a 32-item list."""
    lines = ["a: &a [" + ", ".join([f"[{', '.join([leaf] * 32)}]"] * 32) + "]",
             "b: &b [" + ", ".join(["*a"] * 32) + "]",
             "c: &c [" + ", ".join(["*b"] * 32) + "]",
             "d: [" + ", ".join(["*c"] * 32) + "]"]
    return "\n".join(lines) + "\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_96_aliases_nested_three_deep_are_refused_at_once(make_project, tmp_path, command):
    root = make_project({"m.yaml": bomb(), "n.yaml": CONTACT + "    fields:\n" +
                         "".join("      " + line + "\n" for line in bomb().splitlines())})
    started = time.monotonic()
    # A subprocess with a timeout: the old code spent minutes walking the aliases as a tree.
    proc = subprocess.run([sys.executable, "-m", "reconciler", command, str(root)]
                          + (["--auto-approve"] if command == "apply" else []),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert time.monotonic() - started < 60
    assert "camp/m.yaml:1:1: YAML aliases expand this file by more than 100,000 values" in proc.stderr
    assert "camp/n.yaml:1:1: YAML aliases expand" in proc.stderr
    assert len(proc.stderr) < 2000  # no megabyte message quoting the expanded value


def test_a_secret_under_a_shared_alias_is_reported_once(make_project):
    root = make_project({"m.yaml": CONTACT + "    fields: &f {x: ck_live_abcdefgh}\n"
                                            "  - {id: bob, emails: [bob@example.com], fields: *f}\n"})
    code, out = run("validate", str(root))
    assert code == 1
    assert out.count("looks like a literal API key") == 1


def test_ordinary_alias_use_still_works(make_project):
    root = make_project({"m.yaml": "contacts:\n  - {id: ana, emails: [ana@example.com], tags: &t [inbound, es]}\n"
                                   "  - {id: bob, emails: [bob@example.com], tags: *t}\n"
                                   "sequences:\n  - {id: s, provider: clarky, template: tpl_1,"
                                   " members_where: {tags_all: [es]}}\n"})
    code, out = run("validate", str(root))
    assert code == 0, out
    assert "clarky (clarky): 2 memberships" in out


@pytest.mark.parametrize("text, where, words", [
    ("contacts:\n  - ? [a, b]\n    : c\n", "2:7", "a mapping key must be a plain name"),
    ("? {a: 1}\n: x\n", "1:3", "a mapping key must be a plain name"),
    ("contacts:\n  - 1: x\n", "2:5", "mapping key '1' must be a string"),
    ("yes: 1\n", "1:1", "mapping key 'yes' must be a string"),
    ("contacts: &a [*a]\n", "1:1", "a YAML alias refers to a node that contains it"),
    ("a: &a {b: *a}\n", "1:1", "a YAML alias refers to a node that contains it"),
    (CONTACT + "    fields: {x: .nan}\n", "4:17", "'.nan' is not a finite number"),
])
def test_yaml_constructs_get_a_located_error(make_project, text, where, words):
    root = make_project({"m.yaml": text})
    for command in ("validate", "plan"):
        code, out = run(command, str(root))
        assert code == 1
        assert f"camp/m.yaml:{where}:" in out and words in out and "internal error" not in out


@pytest.mark.parametrize("setting", ["safety: {max_removal_fraction: .nan}", "safety: {max_removal_fraction: .NaN}",
                                     "providers:\n  clarky: {type: clarky, sandbox: true, timeout_seconds: .inf}"])
def test_non_finite_numbers_in_the_project_file_are_refused(make_project, setting):
    project = "version: 1\n" + setting + "\n"
    if "providers" not in setting:
        project += "providers:\n  clarky: {type: clarky, sandbox: true}\n"
    root = make_project({"m.yaml": CONTACT}, project=project)
    code, out = run("validate", str(root))
    assert code == 1 and "camp/campaignctl.yaml:" in out and "is not a finite number" in out
