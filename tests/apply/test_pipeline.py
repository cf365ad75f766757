"""An apply whose plan is fixed: each vendor's writes start when its own read is done.

Over the in-process sandbox, with Kalent's reads slowed down by the sandbox's latency fault: the
other vendors' writes must not wait for Kalent's reads, every membership is still sent exactly once,
and the safety limits stay global (checked before the first write of any vendor).
"""

from __future__ import annotations

from pathlib import Path

from reconciler.engine import open_session
from reconciler.orchestrate import ApplyRequest, ApplyRun
from reconciler.pipeline import FixedPlanApply, sends_bound
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.sandbox.hub import open_project_hub
from tests.apply._support import SMALL_SENDS, first_sighting, plan_changes, small_project, writes

SLOW_KALENT_READS = FaultPlan(script=[Fault("latency", seconds=0.6, vendor="kalent", method="GET", times=None)])


def _run(root: Path, hub) -> FixedPlanApply:
    """`apply --auto-approve` through the library: no saved plan, so each vendor is planned from its own read."""
    with open_session(root, env={}, hub=hub) as session, ApplyRun(session, ApplyRequest(holder="pipeline test")) as run:
        run.prepare()
        run.execute()
        assert run.pipeline is not None and session.lock_id is None  # execute released the lock
        return run.pipeline


def _set_max_new(root: Path, n: int) -> None:
    project = root / "campaignctl.yaml"
    project.write_text(project.read_text().replace("max_new_memberships_per_apply: 200",
                                                   f"max_new_memberships_per_apply: {n}"))


def test_a_vendor_writes_while_a_slow_vendor_is_still_reading(tmp_path):
    root = small_project(tmp_path)
    hub = open_project_hub(root, rate_limits=False)
    try:
        first_sighting(root, hub)  # Kalent starts only after a settle window of absence
        hub.faults = SLOW_KALENT_READS
        run = _run(root, hub)
        assert not run.result.errors and run.result.report.ok, run.result.report.to_dict()
        log = hub.store.requests()
        last_kalent_read = max(i for i, r in enumerate(log) if r["vendor"] == "kalent" and r["method"] == "GET")
        first_other_write = min(i for i, r in enumerate(log) if r["vendor"] != "kalent" and r["method"] != "GET")
        assert first_other_write < last_kalent_read
        sends = hub.store.sends()
        assert len(sends) == SMALL_SENDS and set(sends.values()) == {1}
        hub.faults = FaultPlan()
        assert [c for c in plan_changes(root, hub) if c.executable] == []
    finally:
        hub.store.close()


def test_a_safety_limit_the_unread_vendors_could_break_holds_every_write_back_and_refuses(tmp_path):
    """Kalent (3 members, not read yet) could bring the new enrollments to 8 > 7: nobody writes before
    every vendor is read; then the whole plan's 8 exceed the limit and nothing at all is sent."""
    root = small_project(tmp_path)
    _set_max_new(root, SMALL_SENDS - 1)
    hub = open_project_hub(root, rate_limits=False)
    try:
        first_sighting(root, hub)  # Kalent starts only after a settle window of absence
        hub.faults = SLOW_KALENT_READS
        run = _run(root, hub)
        assert run.result.refused and "max_new_memberships_per_apply" in run.result.refused[0]
        assert run.result.report.results == []
        assert writes(hub) == [] and hub.store.sends() == {}
    finally:
        hub.store.close()


def test_the_bound_counts_every_member_of_a_vendor_not_read_yet(tmp_path):
    root = small_project(tmp_path)
    with open_session(root, env={}) as session:
        assert sends_bound(session.desired, "kalent") == 3
        assert sends_bound(session.desired, "clarky") + sends_bound(session.desired, "gary") == SMALL_SENDS - 3
