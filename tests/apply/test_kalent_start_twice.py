"""Two paths that could start a Kalent candidate twice (hostile review rev2), each ending with the
sandbox's send ledger: a start the journal records as sent but whose objects row a crash never wrote,
and an in-doubt retry judged with Kalent's clock running minutes behind or ahead of ours."""

from __future__ import annotations

import sqlite3

import pytest

from reconciler.sandbox.faults import Fault, FaultPlan
from tests.apply._support import apply_once, plan_changes, time_passes
from tests.identity._world import TWO_BLUEPRINTS, World, kalent_sends
from tests.review.test_rev1_sends import kalent_sends as sends_of
from tests.review.test_rev1_sends import later

ADDRESS = "kalent.membership[s-b][tom]"


def _row(world: World) -> tuple | None:
    db = sqlite3.connect(str(world.root / ".campaignctl" / "state.db"))
    try:
        return db.execute("SELECT remote_id, status, vendor_status, attempt, observed_at, extra, updated_at "
                          "FROM objects WHERE address = ?", (ADDRESS,)).fetchone()
    finally:
        db.close()


def _started_once(world: World) -> tuple:
    """tom (cand_456): the first absent read, the window passes, the start. Returns the `unseen` row."""
    world.write(m_yaml="contacts:\n  - {id: tom, first_name: Tom, emails: [tom@example.org], "
                       "kalent_candidate_id: cand_456}\n"
                + TWO_BLUEPRINTS + "sequences:\n  - {id: s-b, provider: kalent, blueprint: bp-b, members: [tom]}\n")
    world.apply()  # the first absent read is recorded
    time_passes(world.root, world.hub, 660)
    unseen = _row(world)
    assert unseen is not None and unseen[1] == "unseen", unseen
    world.apply()  # started: journal intent, then outcome ok and the objects row together
    assert kalent_sends(world, "cand_456") == 1
    return unseen


def test_a_kalent_start_recorded_in_the_journal_but_not_in_the_objects_row_is_not_started_again(tmp_path) -> None:
    """State as a crash between the journal outcome (ok) and the objects row left it under earlier
    versions (which wrote them in two transactions): the row is still the first absent read (`unseen`,
    a window old). The next run, before Kalent shows the start (its dispatch delay), reads 'none': the
    journal's ok start within the window makes it wait, and nothing is sent a second time."""
    world = World(tmp_path, "inprocess")  # the state file is edited in place: one mode is enough
    try:
        unseen = _started_once(world)
        db = sqlite3.connect(str(world.root / ".campaignctl" / "state.db"))
        with db:
            db.execute("UPDATE objects SET remote_id = ?, status = ?, vendor_status = ?, attempt = ?, observed_at = ?, "
                       "extra = ?, updated_at = ? WHERE address = ?", (*unseen, ADDRESS))
        oks = db.execute("SELECT count(*) FROM journal WHERE address = ? AND phase = 'outcome' AND result = 'ok'",
                         (ADDRESS,)).fetchone()[0]
        db.close()
        assert oks == 1
        planned = {c["address"]: c["action"] for c in world.plan()}
        assert planned.get(ADDRESS) != "enroll", planned
        world.apply()
        assert kalent_sends(world, "cand_456") == 1, planned
        time_passes(world.root, world.hub, 660)  # past the window Kalent shows the start: still one send
        world.apply()
        world.apply()
        assert kalent_sends(world, "cand_456") == 1
    finally:
        world.close()


def test_a_start_whose_objects_row_cannot_be_written_leaves_no_ok_outcome(tmp_path) -> None:
    """The journal outcome (ok) of a start and its objects row commit in one transaction: when the row
    write fails (a trigger aborts it, standing in for a crash at that point), the outcome is not kept
    either, so the start stays in doubt and is settled by reading, never by a fresh start."""
    world = World(tmp_path, "inprocess")
    try:
        world.write(m_yaml="contacts:\n  - {id: tom, first_name: Tom, emails: [tom@example.org], "
                           "kalent_candidate_id: cand_456}\n"
                    + TWO_BLUEPRINTS + "sequences:\n  - {id: s-b, provider: kalent, blueprint: bp-b, members: [tom]}\n")
        world.apply()  # the first absent read is recorded
        time_passes(world.root, world.hub, 660)
        db = sqlite3.connect(str(world.root / ".campaignctl" / "state.db"))
        with db:
            db.execute(f"CREATE TRIGGER no_row BEFORE UPDATE ON objects WHEN NEW.address = '{ADDRESS}' "
                       "AND NEW.status = 'active' BEGIN SELECT RAISE(ABORT, 'crash before the row'); END")
        db.close()
        try:
            world.apply()
        except Exception:  # noqa: BLE001 - the state error is the simulated crash; the journal is checked below
            pass
        assert kalent_sends(world, "cand_456") == 1
        db = sqlite3.connect(str(world.root / ".campaignctl" / "state.db"))
        phases = db.execute("SELECT phase, result FROM journal WHERE address = ? ORDER BY seq", (ADDRESS,)).fetchall()
        with db:
            db.execute("DROP TRIGGER no_row")
        db.close()
        assert phases == [("intent", None)], phases
        assert _row(world)[1] == "unseen"
        for _ in range(2):
            time_passes(world.root, world.hub, 660)
            world.apply()
        assert kalent_sends(world, "cand_456") == 1
        assert _row(world)[1] in ("active", "finished")  # settled by reading: the start is ours
    finally:
        world.close()


@pytest.mark.parametrize("skew", [-600, -120, 120, 600])
def test_a_kalent_retry_in_doubt_is_not_sent_again_whatever_kalents_clock_says(tmp_path, skew: int) -> None:
    """cand_789 is started and fails (ERROR: final, it stands in from then on). Kalent's clock runs
    `skew` seconds off ours (behind or ahead). The retry commits but its answer is lost (in doubt). A
    settle window later Kalent shows the retry running under a sequence id the state never saw as the
    earlier attempt: it is ours, whatever its startedAt says, and nothing is sent a third time."""
    world = World(tmp_path, "inprocess")
    root, hub = world.root, world.hub
    try:
        world.write(m_yaml=TWO_BLUEPRINTS + "sequences:\n  - {id: s-b, provider: kalent, blueprint: bp-b, "
                                            "candidates: [cand_789]}\n")
        assert apply_once(root, hub).ok  # the first absent read
        later(root, hub, 660)
        assert apply_once(root, hub).ok  # started
        later(root, hub, 60)
        hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
        later(root, hub, 16 * 60)  # the status is read again: failed (final from now on)
        assert [c.action for c in plan_changes(root, hub)] == ["retry"]
        hub.simulators["kalent"].clock.advance(skew)
        hub.faults = FaultPlan(script=[Fault("commit_timeout", method="POST", path=r"/start$", vendor="kalent")])
        retried = apply_once(root, hub)
        assert [r.status for r in retried.results] == ["unknown"], retried.results
        assert sends_of(hub, "cand_789") == 2
        later(root, hub, 660)  # past the settle window: the retry shows, running
        reports = [apply_once(root, hub)]
        later(root, hub, 660)
        reports.append(apply_once(root, hub))
        assert sends_of(hub, "cand_789") == 2, [r.results for r in reports]
        assert not plan_changes(root, hub)
    finally:
        world.close()


def started_with_skew(world: World, skew: int) -> None:
    """cand_789 declared in s-b (bp-b), Kalent's clock `skew` seconds off ours: its first absent read,
    then, a settle window later, its start."""
    root, hub = world.root, world.hub
    hub.simulators["kalent"].clock.advance(skew)
    world.write(m_yaml=TWO_BLUEPRINTS + "sequences:\n  - {id: s-b, provider: kalent, blueprint: bp-b, "
                                        "candidates: [cand_789]}\n")
    assert apply_once(root, hub).ok  # the first absent read
    later(root, hub, 660)
    assert apply_once(root, hub).ok  # started


@pytest.mark.parametrize("skew", [-300, -120, 120, 300])
def test_a_kalent_start_shown_past_the_window_is_ours_whatever_kalents_clock_says(tmp_path, skew: int) -> None:
    """cand_789 is started once, with Kalent's clock `skew` seconds off ours. A window later Kalent shows
    the start running; its startedAt, on Kalent's clock, may read as minutes before our send. A running
    sequence is never an earlier attempt: it is our start (planned nothing, not `manual`), and the
    candidate is sent once."""
    world = World(tmp_path, "inprocess")
    root, hub = world.root, world.hub
    try:
        started_with_skew(world, skew)
        assert sends_of(hub, "cand_789") == 1
        for _ in range(2):
            later(root, hub, 660)  # past the settle window: Kalent shows the start, running
            assert [(c.action, c.reason) for c in plan_changes(root, hub)] == []
            assert apply_once(root, hub).ok
        assert sends_of(hub, "cand_789") == 1
    finally:
        world.close()


@pytest.mark.parametrize("skew", [-300, 300])
def test_a_kalent_retry_never_dispatched_is_not_sent_again_whatever_kalents_clock_says(tmp_path, skew: int) -> None:
    """cand_789's first start fails; the retry is accepted but Kalent shows it only 30 minutes later.
    Past the settle window the read still shows the failed first sequence: with Kalent's clock `skew`
    seconds off ours it is still the earlier attempt (`manual`, nothing sent), and once the retry
    shows, the plan is empty; two sends in all."""
    world = World(tmp_path, "inprocess")
    root, hub = world.root, world.hub
    try:
        started_with_skew(world, skew)
        later(root, hub, 600)
        hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
        later(root, hub, 16 * 60)  # the status is read again: failed
        hub.faults = FaultPlan(script=[Fault("dispatch_delay", seconds=1800, method="POST", path=r"/start$",
                                             vendor="kalent")])
        retried = apply_once(root, hub)
        assert [(r.action, r.status) for r in retried.results] == [("retry", "ok")], retried.results
        later(root, hub, 16 * 60)  # past the settle window and the status cache; not dispatched yet
        assert [c.action for c in plan_changes(root, hub)] == ["manual"]
        apply_once(root, hub)
        later(root, hub, 3600)  # the retry shows now: the one enrollment, running
        assert [(c.action, c.reason) for c in plan_changes(root, hub)] == []
        assert sends_of(hub, "cand_789") == 2
    finally:
        world.close()
