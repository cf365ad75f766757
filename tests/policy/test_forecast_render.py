"""The volume forecast as every plan format shows it, and max_messages_per_day refusing a plan."""

from __future__ import annotations

import json

import jsonschema

from reconciler.contact_policy.forecast import forecast
from reconciler.contact_policy.planning import policy_safety
from reconciler.model import Address, Project, Safety
from reconciler.plan_types import Change, Plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.snapshot import LiveSnapshot
from tests.conftest import REPO

HOUR = 3600.0


def enroll(provider: str, group: str, key: str) -> Change:
    return Change(address=Address(provider, "membership", group, key), action="enroll", provider=provider,
                  irreversible=True, before=None, after={"sequence": group, "attempt": 0},
                  precondition={"enrollment": "absent"})


def example() -> tuple[Plan, LiveSnapshot]:
    plan = Plan(changes=[enroll("gary", "nurture", f"p{i}") for i in range(3)] + [
        enroll("kalent", "outreach", "c1"), enroll("clarky", "inbound", "x"), enroll("clarky", "inbound", "y")])
    live = LiveSnapshot()
    # Gary: first step on the next tick, then 1 h, then 24 h after that; Kalent: invite now, emails on days 3 and 10
    live.cadences[("gary", "nurture")] = (("sms", 0.0), ("sms", HOUR), ("sms", 25 * HOUR))
    live.cadences[("kalent", "outreach")] = (("linkedin", 0.0), ("email", 72 * HOUR), ("email", 240 * HOUR))
    return plan, live


def test_the_forecast_counts_per_provider_and_channel_and_marks_unknown_steps():
    plan, live = example()
    data = forecast(plan, live)
    assert data == {
        "rows": [
            {"provider": "clarky", "channel": "unknown", "enrollments": 2, "next_24h": None, "next_7d": None},
            {"provider": "gary", "channel": "sms", "enrollments": 3, "next_24h": 6, "next_7d": 9},
            {"provider": "kalent", "channel": "email", "enrollments": 1, "next_24h": 0, "next_7d": 1},
            {"provider": "kalent", "channel": "linkedin", "enrollments": 1, "next_24h": 1, "next_7d": 1},
        ],
        "next_24h": 7, "next_7d": 11, "unknown_enrollments": 2}


def test_a_step_due_exactly_24_hours_later_is_not_in_the_next_24_hours():
    plan = Plan(changes=[enroll("gary", "nurture", "p")])
    live = LiveSnapshot(cadences={("gary", "nurture"): (("sms", 0.0), ("sms", 24 * HOUR), ("sms", 7 * 24 * HOUR))})
    data = forecast(plan, live)
    assert (data["next_24h"], data["next_7d"]) == (1, 2)


def test_every_format_shows_it():
    plan, live = example()
    plan.policy = {"declared": False, "decisions": [], "forecast": forecast(plan, live)}
    text = render_text(plan)
    assert ("Forecast: 7 messages in the next 24 h, 11 in 7 days, plus 2 enrollment(s) whose vendor does not expose "
            "its steps:") in text
    assert "  gary       sms       next 24 h      6   next 7 days      9   (3 enrollment(s))" in text
    assert "  clarky     unknown   2 enrollment(s): the vendor does not expose the sequence's steps" in text
    md = render_markdown(plan)
    assert "**Forecast: 7 messages in the next 24 h, 11 in 7 days, plus 2 enrollment(s)" in md
    assert "| kalent | linkedin | 1 | 1 | 1 |" in md and "| clarky | unknown | 2 | unknown | unknown |" in md
    data = json.loads(render_json(plan))
    assert data["policy"]["forecast"]["next_7d"] == 11
    data["manifest_digest"] = "sha256:" + "0" * 64
    jsonschema.validate(data, json.loads((REPO / "schemas" / "plan.schema.json").read_text()))


def test_max_messages_per_day_refuses_a_plan_above_it():
    plan, live = example()
    plan.policy = {"declared": False, "decisions": [], "forecast": forecast(plan, live)}

    class Desired:  # only the project's safety limits are read
        project = Project(root=REPO, state_path=REPO, providers={}, safety=Safety(max_messages_per_day=6))

    assert policy_safety(plan, Desired()) == [  # type: ignore[arg-type]
        ("--allow-large", "the forecast of 7 messages in the next 24 h exceeds max_messages_per_day (6)")]
    Desired.project = Project(root=REPO, state_path=REPO, providers={}, safety=Safety(max_messages_per_day=7))
    assert policy_safety(plan, Desired()) == []  # type: ignore[arg-type]
