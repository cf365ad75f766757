"""Each internal error the input fuzzer (test_hostile_inputs.py) found, pinned as a plain test."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from tests.conftest import EXAMPLE


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "campaigns"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    return root


def validate(root):
    return CliRunner().invoke(main, ["validate", str(root)], catch_exceptions=False, env={"NO_COLOR": "1"})


@pytest.mark.parametrize("value,where,message", [
    # the YAML reader refuses control characters before parsing: it was an internal ReaderError
    ("maria\x1fgarcia", "contacts.yaml:3:14: ", "U+001F is not allowed"),
    # PyYAML's timestamp and int constructors raise a plain ValueError
    ("2026-11-31", "contacts.yaml:3:9: ", "cannot read '2026-11-31' as timestamp"),
    ("!!int x", "contacts.yaml:3:9: ", "cannot read 'x' as int"),
    # an explicit !!timestamp that is not one: PyYAML's constructor raised AttributeError
    ("!!timestamp x", "contacts.yaml:3:9: ", "cannot read 'x' as timestamp"),
])
def test_a_value_pyyaml_cannot_construct_is_a_located_error(project, value, where, message):
    contacts = project / "contacts.yaml"
    contacts.write_text(contacts.read_text(encoding="utf-8").replace("id: maria-garcia", f"id: {value}", 1),
                        encoding="utf-8")
    result = validate(project)
    assert result.exit_code == 1
    assert "internal error" not in result.output
    assert where in result.output and message in result.output, result.output


def test_a_kalent_sourcing_that_does_not_exist_names_where_it_was_declared(project):
    recruiting = project / "recruiting.yaml"
    recruiting.write_text(recruiting.read_text(encoding="utf-8").replace(
        'sourcing: "Senior Backend Engineer"', 'sourcing: "No Such Sourcing"', 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(project)], catch_exceptions=False,
                                env={"NO_COLOR": "1", "CAMPAIGNCTL_SANDBOX": "1"})
    assert result.exit_code == 1
    assert "recruiting.yaml:" in result.output and "no Kalent sourcing 'No Such Sourcing'" in result.output, \
        result.output
