"""Drift ages from vendor timestamps: one parser (reconciler/timeutil.py) for every time drift reads.
A vendor timestamp without an offset is UTC; before, drift's own parser handed back a naive time
and `now - since` raised TypeError (an internal error instead of a report)."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.drift import build_report
from reconciler.model import Address
from reconciler.plan_types import Plan
from reconciler.snapshot import ACTIVE, LiveMembership, LiveSnapshot

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
ADDR = Address("clarky", "membership", "es", "ana")


def report_for(since: str):
    live = LiveSnapshot()
    live.memberships[ADDR] = LiveMembership(ADDR, "m_1", ACTIVE, "generating", since=since)
    return build_report(Plan(changes=[]), live, now=NOW)


def test_a_vendor_timestamp_without_offset_is_utc():
    report = report_for("2026-11-30T11:00:00")  # an hour before NOW, read as UTC
    assert [(h["kind"], h["problem"]) for h in report.health] == [("stuck_generating", "stuck in generating for 60 min")]


def test_offset_and_z_timestamps_give_the_same_age():
    for since in ("2026-11-30T11:00:00Z", "2026-11-30T12:00:00+01:00", "2026-11-30T11:00:00.000000Z"):
        assert [h["problem"] for h in report_for(since).health] == ["stuck in generating for 60 min"], since


def test_an_unparsable_timestamp_has_no_age():
    assert report_for("yesterday").health == []
