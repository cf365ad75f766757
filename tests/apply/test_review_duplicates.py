"""Review findings: paths that could enroll a (sequence, contact) a second time."""

from __future__ import annotations

from reconciler.engine import open_session, read_live
from reconciler.sandbox.core import Fault, FaultPlan
from tests.apply._support import (SMALL_SENDS, apply_once, assert_sent_once, executable, first_sighting, open_hub,
                                  plan_changes, small_project, time_passes)


def _kalent_sends(hub, candidate: str) -> int:
    return sum(n for (vendor, _, contact), n in hub.store.sends().items() if vendor == "kalent" and contact == candidate)


def test_a_404_on_a_kalent_status_read_never_makes_a_started_candidate_look_absent(tmp_path):
    root = small_project(tmp_path)
    hub = open_hub(root)
    first_sighting(root, hub)  # Kalent starts only after a settle window of absence
    try:
        assert apply_once(root, hub).ok
        hub.simulators["kalent"].clock.advance(5)
        time_passes(root, hub, 20 * 60)  # past status_refresh_minutes: the status is read again
        hub.faults = FaultPlan(script=[Fault("status", status=404, method="GET", vendor="kalent",
                                             path=r"/candidates/cand_123/dynamic-sequence$")])
        again = apply_once(root, hub)
        assert hub.faults.script == []  # the 404 was served
        assert [r.address for r in again.results if "cand_123" in r.address or "ana-souza" in r.address] == []
        assert_sent_once(hub, SMALL_SENDS)
    finally:
        hub.store.close()


def test_a_plan_or_drift_running_beside_an_apply_never_overwrites_what_the_apply_recorded(tmp_path):
    """drift runs from cron and takes no lock: its read, taken before an apply's retry, must not
    write the old `failed` status back over the retry the apply just recorded (Kalent never re-reads
    a final status, so the next apply would start the candidate a third time)."""
    root = small_project(tmp_path)
    hub = open_hub(root)
    first_sighting(root, hub)  # Kalent starts only after a settle window of absence
    try:
        assert apply_once(root, hub).ok
        kalent = hub.simulators["kalent"]
        kalent.clock.advance(5)
        time_passes(root, hub, 20 * 60)
        kalent.event_error("cand_123", "internal_error")
        with open_session(root, env={}, hub=hub) as drift:
            done = []

            def apply_meanwhile(note: str) -> None:
                if note.endswith("(3/3 providers)"):  # the drift read is done; its cache write is not
                    done.append(apply_once(root, hub))

            read_live(drift, refresh=True, read_only=True, progress=apply_meanwhile)
        assert done and _kalent_sends(hub, "cand_123") == 2  # the apply retried the failure
        kalent.clock.advance(5)
        apply_once(root, hub)
        assert _kalent_sends(hub, "cand_123") == 2
    finally:
        hub.store.close()


def test_a_plan_that_took_a_kalent_status_from_the_cache_does_not_mark_it_freshly_read(tmp_path):
    """Runs closer together than status_refresh_minutes must not keep a cached status fresh for ever."""
    root = small_project(tmp_path)
    hub = open_hub(root)
    first_sighting(root, hub)  # Kalent starts only after a settle window of absence
    try:
        assert apply_once(root, hub).ok
        hub.simulators["kalent"].clock.advance(5)
        time_passes(root, hub, 10 * 60)
        plan_changes(root, hub)  # 10 min after the start: the cached status is used, nothing is read
        time_passes(root, hub, 10 * 60)
        hub.simulators["kalent"].event_error("cand_123", "internal_error")
        # 20 min after the last real read: the status is read again and the failure is seen
        assert "retry kalent.membership[backend-outreach][ana-souza]" in executable(plan_changes(root, hub))
    finally:
        hub.store.close()
