"""`plan` and `drift` write nothing to the state: no rows, no journal outcomes, no `unseen` rows.

Only apply records what it read and did. Each case runs on all three vendors, in process (the engine)
and over loopback (the CLI), on a state that holds what makes a read want to write: enrollments and
cards an apply recorded, Kalent candidates read as absent, and journal intents in doubt on every
vendor (a start still settling, a write a read can settle, a start only a keyed replay could settle).
The state's rows and journal are compared before and after; an apply afterwards does write, which
shows the comparison can see a write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.engine import open_session
from reconciler.model import Address
from reconciler.orchestrate import record_drift, run_drift
from reconciler.state import StateStore
from tests.apply._worlds import KEYS, MODES, World, make_world

SETTLE = 600
GARY = Address.parse("gary.membership[nurture][maria-garcia]")
CLARKY = Address.parse("clarky.membership[inbound-es][maria-garcia]")
KALENT = Address.parse("kalent.membership[backend-outreach][ana-souza]")


@pytest.fixture(params=MODES)
def world(request, tmp_path, monkeypatch):
    w = make_world(request.param, tmp_path, monkeypatch)
    yield w
    w.close()


def state_rows(root: Path) -> tuple[list[tuple], list[tuple]]:
    """Every objects row and every journal row, in a fixed order."""
    path = root / ".campaignctl" / "state.db"
    if not path.exists():
        return [], []
    db = sqlite3.connect(str(path))
    try:
        objects = db.execute("SELECT * FROM objects ORDER BY address").fetchall()
        journal = db.execute("SELECT * FROM journal ORDER BY seq").fetchall()
    finally:
        db.close()
    return objects, journal


def drift(world: World) -> int:
    """`campaignctl drift` (over loopback), or its library call in process (with the fingerprint it
    keeps for --notify, a meta value: not a row, not the journal); the exit code."""
    if world.mode == "inprocess":
        with open_session(world.root, env={}, hub=world.hub) as session:
            result = run_drift(session)
            record_drift(session, result)
        return 2 if result.report.drifted else 0
    result = CliRunner().invoke(main, ["drift", str(world.root), "--format", "json"], env={**KEYS, "NO_COLOR": "1"})
    assert result.exit_code in (0, 2), result.output
    return result.exit_code


def plan_and_drift_leave_the_state_as_it_was(world: World) -> dict[str, tuple[str, str | None]]:
    before = state_rows(world.root)
    planned = world.plan()
    assert planned.code == 0, planned.error
    drift(world)
    again = world.plan()
    assert again.code == 0, again.error
    assert state_rows(world.root) == before
    return planned.changes


def in_doubt_everywhere(world: World) -> None:
    """A crash between intent and outcome on each vendor: Gary's enrollment (settled by reading its
    list), a Clarky retry (only a keyed replay settles it: plan and drift leave it pending) and a
    Kalent start sent just now (still settling)."""
    store = StateStore(world.root / ".campaignctl" / "state.db")
    try:
        for address, attempt in ((GARY, 0), (CLARKY, 1), (KALENT, 0)):
            store.intent("crashed-apply", address, "enroll", attempt=attempt)
    finally:
        store.close()


def test_a_cold_plan_and_drift_record_nothing(world):
    changes = plan_and_drift_leave_the_state_as_it_was(world)
    assert changes[str(KALENT)][0] == "defer"  # read as absent for the first time: not recorded by a plan
    assert state_rows(world.root) == ([], [])


def test_plan_and_drift_beside_absent_candidates_and_in_doubt_intents_record_nothing(world):
    assert world.apply().code == 0  # enrolls Clarky and Gary; records the Kalent candidates' first absent read
    objects, _ = state_rows(world.root)
    assert any(row[4] == "unseen" for row in objects)  # (address, provider, kind, remote_id, status, ...)
    in_doubt_everywhere(world)
    changes = plan_and_drift_leave_the_state_as_it_was(world)
    assert changes[str(CLARKY)][0] == "defer" and changes[str(KALENT)][0] == "defer"

    world.later(SETTLE + 60)  # the absent candidates may start now; Kalent's in-doubt start is past its window
    changes = plan_and_drift_leave_the_state_as_it_was(world)
    assert changes[str(Address.parse("kalent.membership[backend-outreach][tom-becker]"))][0] == "enroll"

    _, journal = state_rows(world.root)
    assert world.apply().code == 0
    _, after = state_rows(world.root)
    assert len(after) > len(journal)  # apply settles the intents and records its sends
    store = StateStore(world.root / ".campaignctl" / "state.db")
    try:
        assert store.in_doubt() == []
    finally:
        store.close()
