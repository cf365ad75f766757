"""apply → plan converges; a second apply writes nothing; 429 storms and 5xx bursts still send once."""

from __future__ import annotations

import pytest

from reconciler.sandbox.core import Fault, FaultPlan
from tests.apply._support import (SMALL_SENDS, apply_once, assert_sent_once, cards_per_contact, converge, copy_example,
                                  executable, first_sighting, open_hub, plan_changes, small_project, writes)


def test_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(tmp_path):
    root = copy_example(tmp_path)
    hub = open_hub(root)
    first_sighting(root, hub)  # Kalent starts only after a settle window of absence
    try:
        report = apply_once(root, hub)
        assert report.ok and report.count("ok") == 21, report.summary_line()
        assert executable(plan_changes(root, hub)) == []
        before = len(writes(hub))
        again = apply_once(root, hub)
        assert again.results == []
        assert len(writes(hub)) == before
        assert_sent_once(hub)
    finally:
        hub.store.close()


@pytest.mark.parametrize("faults", [
    pytest.param(FaultPlan(error_rate=0.3, error_status=429, only=Fault("status", method="WRITE"), seed=7), id="429-storm-on-writes"),
    pytest.param(FaultPlan(error_rate=0.3, error_status=503, seed=11), id="503-burst-on-everything"),
])
def test_error_storms_converge_with_every_membership_sent_once(tmp_path, faults):
    root = small_project(tmp_path)
    hub = open_hub(root, faults)
    try:
        # 30% of every request failing ends many runs at a read (exit 1, re-run): the vendors' reads run
        # on their own threads, so which requests draw the faults varies; give it the runs it may need
        reports = converge(root, hub, runs=30)
        hub.faults = FaultPlan()
        assert executable(plan_changes(root, hub), defer=True) == []
        assert_sent_once(hub, SMALL_SENDS)
        injected = [r for r in hub.store.requests() if r["outcome"] == "injected"]
        assert injected and {r["status"] for r in injected} == {faults.error_status}
        assert all(r.status in ("ok", "failed", "unknown", "skipped") for rep in reports for r in rep.results)
    finally:
        hub.store.close()


@pytest.mark.parametrize("seed", [3, 5])
def test_lost_answers_and_dropped_connections_on_writes_at_random_on_the_example_project(tmp_path, seed):
    root = copy_example(tmp_path)
    faults = FaultPlan(commit_timeout_rate=0.3, drop_rate=0.1, only=Fault("drop", method="WRITE"), seed=seed)
    hub = open_hub(root, faults)
    try:
        converge(root, hub)
        hub.faults = FaultPlan()
        assert executable(plan_changes(root, hub), defer=True) == []
        assert_sent_once(hub)
        lost = [r for r in hub.store.requests() if r["outcome"] == "committed_then_dropped"]
        assert {r["method"] for r in lost} >= {"POST"}
        assert set(cards_per_contact(hub).values()) == {1} and len(cards_per_contact(hub)) == 7
        assert len(hub.store.collection("kalent.blueprints")) == 1
        # Clarky appends `notes` on every start: a replayed or repeated start must not carry them
        notes = {c["first_name"]: c.get("notes") for c in hub.store.collection("clarky.contacts").values() if c.get("notes")}
        assert notes == {"Maria": "Speaks Spanish. Located in Madrid.", "Carlos": "Prefers phone calls in the morning."}
    finally:
        hub.store.close()
