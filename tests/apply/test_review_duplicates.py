"""Review findings: paths that could enroll a (sequence, contact) a second time."""

from __future__ import annotations

from reconciler.sandbox.core import Fault, FaultPlan
from tests.apply._support import SMALL_SENDS, apply_once, assert_sent_once, open_hub, small_project, time_passes


def _kalent_sends(hub, candidate: str) -> int:
    return sum(n for (vendor, _, contact), n in hub.store.sends().items() if vendor == "kalent" and contact == candidate)


def test_a_404_on_a_kalent_status_read_never_makes_a_started_candidate_look_absent(tmp_path):
    root = small_project(tmp_path)
    hub = open_hub(root)
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

