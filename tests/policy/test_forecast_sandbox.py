"""The volume forecast against the sandbox's own record of the messages its steps sent over a
simulated week: what the plan said would go out in 24 hours and in 7 days is what went out."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from tests.apply._support import apply_once, copy_example, first_sighting, open_hub
from tests.policy._support import clock_to, plan_now, sandbox_now

VENDORS = {"gary": "garyclub", "kalent": "kalent"}


def sent_by(hub, start: float, span: float) -> Counter:
    """(provider, channel) -> messages the Gary Club and Kalent simulators sent in [start, start + span)."""
    out: Counter = Counter()
    for provider, vendor in VENDORS.items():
        for message in hub.simulators[vendor].messages_sent():
            if start <= message["at"] < start + span:
                out[(provider, message["channel"])] += 1
    return out


def test_the_forecast_matches_what_the_sandbox_sent_over_a_week(tmp_path):
    root = copy_example(tmp_path)
    hub = open_hub(root)
    try:
        first_sighting(root, hub)  # Kalent candidates are started once a settle window has passed
        plan = plan_now(root, hub)
        forecast = plan.policy["forecast"]
        rows = {(r["provider"], r["channel"]): r for r in forecast["rows"]}
        assert rows[("clarky", "unknown")]["enrollments"] == 5 and rows[("clarky", "unknown")]["next_24h"] is None
        assert forecast["unknown_enrollments"] == 5
        start = sandbox_now(hub).timestamp()
        report = apply_once(root, hub)
        assert sum(1 for r in report.results if r.action == "enroll" and r.status == "ok") == 14
        clock_to(hub, sandbox_now(hub) + timedelta(days=8))
        day, week = sent_by(hub, start, 86400.0), sent_by(hub, start, 7 * 86400.0)
        predicted_day = {k: r["next_24h"] for k, r in rows.items() if r["next_24h"] is not None}
        predicted_week = {k: r["next_7d"] for k, r in rows.items() if r["next_7d"] is not None}
        assert {k: v for k, v in predicted_day.items() if v} == dict(day)
        assert {k: v for k, v in predicted_week.items() if v} == dict(week)
        assert sum(week.values()) == forecast["next_7d"] > forecast["next_24h"] == sum(day.values()) > 0
    finally:
        hub.store.close()
