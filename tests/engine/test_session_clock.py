"""One injected clock: a session opened with a `SteppedClock` stamps what it records (journal, plan)
with it and decides by it, so a test moves time forward instead of sleeping or rewriting the state."""

from __future__ import annotations

from reconciler.apply import apply_plan
from reconciler.engine import make_plan, open_session, read_live
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
        plan = make_plan(session, read_live(session, read_only=True))
    assert parse_time(plan.created_at) == clock.now()
    return {str(c.address): c.action for c in plan.changes if c.provider == "clarky"}


def test_the_daily_cap_window_moves_with_the_session_clock(tmp_path):
    root = small_project(tmp_path)
    (root / "sales.yaml").write_text(CAPPED)
    hub = open_hub(root)
    clock = SteppedClock("2026-11-30T09:00:00Z")
    try:
        with open_session(root, env={}, hub=hub, clock=clock) as session:
            lock = session.store.acquire_lock("clock test")
            try:
                live = read_live(session)
                report = apply_plan(session, make_plan(session, live), live)
            finally:
                session.store.release_lock(lock)
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
