"""One injected clock: a session opened with a `SteppedClock` stamps what it records (journal, plan)
with it and decides by it, so a test moves time forward instead of sleeping or rewriting the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.engine import open_session
from reconciler.orchestrate import ApplyRequest, run_apply, run_plan
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.timeutil import SteppedClock, parse_time
from tests.apply._support import open_hub, small_project

CAPPED = """\
sequences:
  - id: inbound-es
    provider: clarky
    template: tpl_01HABC
    daily_cap: 3
    members: [maria-garcia, carlos-ruiz, lucia-fernandez, john-smith, emma-jones]
"""


def clarky_actions(root, hub, clock) -> dict[str, str]:
    with open_session(root, env={}, hub=hub, clock=clock) as session:
        plan = run_plan(session).plan
    assert parse_time(plan.created_at) == clock.now()
    return {str(c.address): c.action for c in plan.changes if c.provider == "clarky"}


def test_the_daily_cap_window_moves_with_the_session_clock(tmp_path):
    root = small_project(tmp_path)
    (root / "sales.yaml").write_text(CAPPED)
    hub = open_hub(root)
    clock = SteppedClock("2026-11-30T09:00:00Z")
    try:
        with open_session(root, env={}, hub=hub, clock=clock) as session:
            report = run_apply(session, ApplyRequest(holder="clock test")).report
            stamps = {e.at for e in session.store.journal() if e.operation == "enroll"}
        assert stamps == {"2026-11-30T09:00:00.000000Z"}  # the journal is stamped on the session's clock
        assert sum(1 for r in report.results if r.address.startswith("clarky.") and r.status == "ok") == 3
        clock.advance(23 * 3600)
        assert sorted(clarky_actions(root, hub, clock).values()) == ["defer", "defer"]  # still inside 24 h
        clock.advance(2 * 3600)
        assert sorted(clarky_actions(root, hub, clock).values()) == ["enroll", "enroll"]  # the window has passed
        assert len(hub.store.sends("clarky")) == 3
    finally:
        hub.store.close()


def kalent_sends(hub) -> dict[str, int]:
    return {candidate: n for (vendor, _, candidate), n in hub.store.sends().items() if vendor == "kalent"}


def test_kalent_starts_a_candidate_a_settle_window_after_first_reading_it_absent_on_the_session_clock(tmp_path):
    """No sleeping and no rewriting of the state's times: the session's clock moves, the sandbox's does not."""
    root = small_project(tmp_path)
    hub = open_hub(root)
    clock = SteppedClock("2026-11-30T09:00:00Z")

    def apply_now() -> None:
        with open_session(root, env={}, hub=hub, clock=clock) as session:
            run_apply(session, ApplyRequest(holder="clock test"))  # `apply --auto-approve`

    try:
        apply_now()  # reads every Kalent candidate absent for the first time: nobody is started
        assert kalent_sends(hub) == {}
        clock.advance(9 * 60)  # start_settle_minutes is 10
        apply_now()
        assert kalent_sends(hub) == {}
        clock.advance(2 * 60)
        apply_now()
        assert kalent_sends(hub) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
        clock.advance(60)  # the starts are still inside their own settle window: nothing is sent again
        apply_now()
        assert kalent_sends(hub) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
    finally:
        hub.store.close()


def test_a_lost_kalent_start_is_judged_on_the_session_clock_and_not_sent_again(tmp_path):
    """The start's answer is lost and Kalent does not show it yet: the time it was sent and the settle
    window are both on the session's clock (here two days ahead of the machine's), so the start stays in
    doubt instead of being read as absent and sent a second time."""
    root = small_project(tmp_path)
    hub = open_hub(root)
    clock = SteppedClock(datetime.now(UTC) + timedelta(days=2))

    def apply_now() -> None:
        with open_session(root, env={}, hub=hub, clock=clock) as session:
            run_apply(session, ApplyRequest(holder="clock test", partial=True))

    try:
        apply_now()  # the first absent read
        clock.advance(11 * 60)
        hub.faults = FaultPlan(script=[
            Fault("commit_timeout", method="POST", path=r"/start$", vendor="kalent"),
            Fault("dispatch_delay", method="POST", path=r"/start$", seconds=300, times=None)])
        apply_now()
        assert [r for r in hub.store.requests("kalent") if r["outcome"] == "committed_then_dropped"]
        assert kalent_sends(hub) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
        hub.faults = FaultPlan(script=[Fault("dispatch_delay", method="POST", path=r"/start$", seconds=300,
                                             times=None)])
        clock.advance(60)  # the next run, still inside the starts' settle window
        apply_now()
        assert kalent_sends(hub) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
    finally:
        hub.store.close()
