"""Hostile review (rev1): `state migrate` leaves the old state behind; an apply must never write to
it once its rows were copied away, or the copy misses sends and the next apply repeats them."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.engine import open_session
from reconciler.errors import StateError
from reconciler.orchestrate import ApplyRequest, run_apply
from reconciler.sandbox.core import Fault
from tests.apply._support import assert_sent_once, copy_example, open_hub, time_passes
from tests.postgres_support import pg_schema  # noqa: F401 - fixture


def apply_with(root, hub, env):
    """One `apply --auto-approve` over the in-process sandbox, with `env` (the state DSN)."""
    with open_session(root, env=env, hub=hub) as session:
        return run_apply(session, ApplyRequest(holder="rev1 test")).report


def test_an_apply_on_the_sqlite_state_after_it_was_migrated_is_refused_and_nothing_is_sent_twice(tmp_path, pg_schema,
                                                                                                  monkeypatch):
    dsn, schema = pg_schema
    monkeypatch.chdir(tmp_path)
    env = {"CAMPAIGNCTL_STATE_DSN": dsn}
    root = copy_example(tmp_path)
    hub = open_hub(root)
    try:
        apply_with(root, hub, env)  # Kalent candidates are first seen absent: started a settle window later
        time_passes(root, hub, 660)
        # the copy is made before the project file is edited (README allows it)
        moved = CliRunner().invoke(main, ["state", "migrate", "--to", "postgres", "--schema", schema, "--project",
                                          "camp", "--dir", str(root)], env=env, catch_exceptions=False)
        assert moved.exit_code == 0, moved.output
        # meanwhile an apply from a checkout still on the SQLite file; Kalent shows its starts 5 min later
        hub.faults.script.append(Fault("dispatch_delay", seconds=300, method="POST", path=r"/start$"))
        with pytest.raises(StateError, match="state migrate") as refused:
            apply_with(root, hub, env)
        assert dsn not in str(refused.value) and "Nothing was sent" in str(refused.value)
        assert not [k for k in hub.store.sends() if k[0] == "kalent"]
        # the project file now names PostgreSQL; its state is the copy
        project = root / "campaignctl.yaml"
        project.write_text(re.sub(r"state:\n(  .*\n)+", "", project.read_text())
                           + f"state: {{backend: postgres, schema: {schema}, project: camp}}\n")
        apply_with(root, hub, env)
        hub.simulators["kalent"].clock.advance(600)
        assert_sent_once(hub)
    finally:
        hub.store.close()
