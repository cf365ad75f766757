"""Contact policy against the sandbox: suppression, one outreach at a time, cool-downs and send
windows, driven by the simulators' reply and completion events and their clock (nobody sleeps)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import jsonschema

from reconciler.apply import apply_plan
from reconciler.engine import make_plan, open_session, read_live
from reconciler.orchestrate import ApplyRun
from tests.apply._support import UNCHECKED, open_hub
from tests.conftest import REPO
from tests.policy._support import (
    SandboxTime, apply_now, by_address, clock_to, plan_now, policy_project, policy_sandbox, sandbox_now)

OVERLAP = ["maria-garcia", "carlos-ruiz", "lucia-fernandez", "john-smith", "emma-jones"]  # in Clarky and Gary
MADRID = ZoneInfo("Europe/Madrid")


def sent_addresses(report) -> set[str]:
    return {r.address for r in report.results if r.status == "ok" and r.action in ("enroll", "retry")}


def test_suppressed_people_are_skipped_everywhere_with_where_the_entry_is(tmp_path):
    with policy_sandbox(tmp_path, """\
  suppress:
    emails: [MARIA@example.com]
    domains: [jones-analytics.example]
    csv: [dnc.csv]
""", files={"dnc.csv": "phone,email\n+1 415 555 0123,\n"}) as (root, hub):
        plan = by_address(plan_now(root, hub))
        assert plan["clarky.membership[inbound-es][maria-garcia]"] == (
            "skip", f"suppressed: email 'maria@example.com' is listed in {root}/campaignctl.yaml:29 (policy.suppress)")
        assert plan["gary.membership[nurture][maria-garcia]"][0] == "skip"
        assert plan["gary.membership[nurture][emma-jones]"][1].startswith(
            "suppressed: domain 'jones-analytics.example' is listed in")
        assert plan["clarky.membership[inbound-en][john-smith]"][1] == (
            f"suppressed: phone '+14155550123' is listed in {root}/dnc.csv:2 (policy.suppress)")
        assert plan["clarky.card[sales][maria-garcia]"][0] == "create"  # a card is not a send
        report = apply_now(root, hub)
        sent = sent_addresses(report)
        assert sent and not any(k in a for a in sent for k in ("maria-garcia", "emma-jones", "john-smith"))
        assert "clarky.membership[inbound-es][carlos-ruiz]" in sent
        assert "clarky.card[sales][maria-garcia]" in {r.address for r in report.results if r.status == "ok"}
        assert {a for a, (action, _) in by_address(plan_now(root, hub)).items() if action != "defer"} == {
            f"{p}.membership[{s}][{c}]" for p, s, c in [
                ("clarky", "inbound-es", "maria-garcia"), ("gary", "nurture", "maria-garcia"),
                ("gary", "nurture", "emma-jones"), ("clarky", "inbound-en", "emma-jones"),
                ("clarky", "inbound-en", "john-smith"), ("gary", "nurture", "john-smith")]}


def test_one_outreach_at_a_time_until_the_person_replies_or_the_sequence_completes(tmp_path):
    with policy_sandbox(tmp_path, "  exclusive: true\n") as (root, hub):
        first = plan_now(root, hub)
        plan = by_address(first)
        for person in OVERLAP:
            action, reason = plan[f"gary.membership[nurture][{person}]"]
            assert action == "defer", (person, action)
            assert reason.startswith("exclusive (all sequences): this plan enrolls them in clarky/inbound-")
        assert plan["clarky.membership[inbound-es][maria-garcia]"][0] == "enroll"
        decisions = {d["address"]: d for d in first.policy["decisions"]}
        assert decisions["gary.membership[nurture][maria-garcia]"] == {
            "address": "gary.membership[nurture][maria-garcia]", "rule": "exclusive", "action": "defer",
            "reason": plan["gary.membership[nurture][maria-garcia]"][1],
            "source": "clarky.membership[inbound-es][maria-garcia]", "until": None}
        sent = sent_addresses(apply_now(root, hub))
        assert not any(a.startswith("gary.membership[nurture]") and a.split("[")[-1][:-1] in OVERLAP for a in sent)

        later = by_address(plan_now(root, hub))
        assert later["gary.membership[nurture][maria-garcia]"][1].startswith(
            "exclusive (all sequences): already in clarky/inbound-es (active since ")

        hub.event("clarky", "reply", contact="maria@example.com")  # Clarky stops her sequence: it ended
        after_reply = by_address(plan_now(root, hub))
        assert after_reply["gary.membership[nurture][maria-garcia]"][0] == "enroll"
        assert after_reply["gary.membership[nurture][carlos-ruiz]"][0] == "defer"

        clock_to(hub, sandbox_now(hub) + timedelta(minutes=2))             # generated, pending approval
        assert "approved 1" in hub.event("clarky", "approve", contact="john.smith@example.com")  # John's go out
        clock_to(hub, sandbox_now(hub) + timedelta(days=4))                # ... and his last step is sent
        after_completion = by_address(plan_now(root, hub))
        assert after_completion["gary.membership[nurture][john-smith]"][0] == "enroll"
        assert after_completion["gary.membership[nurture][emma-jones]"][0] == "defer"  # still pending approval

        sent = sent_addresses(apply_now(root, hub))
        assert {"gary.membership[nurture][maria-garcia]", "gary.membership[nurture][john-smith]"} <= sent
        assert hub.store.sends() and all(n == 1 for n in hub.store.sends().values())


def test_exclusive_groups_hold_only_their_own_sequences(tmp_path):
    spanish = "  exclusive:\n    - {group: spanish, sequences: [inbound-es, nurture]}\n"
    with policy_sandbox(tmp_path, spanish) as (root, hub):
        plan = by_address(plan_now(root, hub))
        assert plan["gary.membership[nurture][maria-garcia]"][0] == "defer"
        assert plan["gary.membership[nurture][maria-garcia]"][1].startswith("exclusive (spanish): ")
        assert plan["gary.membership[nurture][john-smith]"][0] == "enroll"  # inbound-en is in no group


def test_a_cooldown_defers_the_next_enrollment_until_the_days_have_passed(tmp_path):
    with policy_sandbox(tmp_path, "  exclusive: true\n  cooldown_days: 3\n") as (root, hub):
        apply_now(root, hub)
        hub.event("clarky", "reply", contact="maria@example.com")
        action, reason = by_address(plan_now(root, hub))["gary.membership[nurture][maria-garcia]"]
        assert action == "defer"
        assert reason.startswith("cooldown_days 3: an enrollment in clarky/inbound-es ended ")
        decision = next(d for d in plan_now(root, hub).policy["decisions"]
                        if d["address"] == "gary.membership[nurture][maria-garcia]")
        until = datetime.fromisoformat(decision["until"])
        assert decision["rule"] == "cooldown" and decision["source"] == "clarky.membership[inbound-es][maria-garcia]"
        assert timedelta(days=2, hours=23) < until - sandbox_now(hub) <= timedelta(days=3)
        clock_to(hub, until - timedelta(minutes=5))
        assert by_address(plan_now(root, hub))["gary.membership[nurture][maria-garcia]"][0] == "defer"
        clock_to(hub, until + timedelta(seconds=1))
        assert by_address(plan_now(root, hub))["gary.membership[nurture][maria-garcia]"][0] == "enroll"


def _next(weekday: int, hour: int, after: datetime) -> datetime:
    """The next `weekday` (0 = Monday) at `hour`:00 Madrid time after `after`."""
    local = after.astimezone(MADRID)
    day = local.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=MADRID)


WEEKDAYS = "  send_windows:\n    - {days: [mon, tue, wed, thu, fri], hours: \"09:00-17:00\", timezone: Europe/Madrid}\n"


def test_outside_the_send_windows_enrollments_wait_and_cards_do_not(tmp_path):
    with policy_sandbox(tmp_path, WEEKDAYS) as (root, hub):
        saturday = _next(5, 12, sandbox_now(hub))
        clock_to(hub, saturday)
        plan = plan_now(root, hub)
        monday = saturday + timedelta(days=2) - timedelta(hours=3)  # 09:00 Madrid
        held = [c for c in plan.changes if c.address.kind == "membership" and c.action == "defer"
                and "send windows" in (c.reason or "")]
        assert len(held) == 11 and not any(c.action == "enroll" for c in plan.changes)
        utc = monday.astimezone(ZoneInfo("UTC"))
        assert held[0].reason == (f"outside the send windows (mon,tue,wed,thu,fri 09:00-17:00 Europe/Madrid); the next "
                                  f"opens {monday:%Y-%m-%d} 09:00 Europe/Madrid ({utc:%Y-%m-%d %H:%M} UTC)")
        assert {d["until"] for d in plan.policy["decisions"]} == {monday.astimezone(ZoneInfo("UTC"))
                                                                  .strftime("%Y-%m-%dT%H:%M:%SZ")}
        report = apply_now(root, hub)
        assert not sent_addresses(report) and not hub.store.sends()
        assert sum(1 for r in report.results if r.action == "create" and r.status == "ok") == 7  # cards, blueprint
        clock_to(hub, monday + timedelta(hours=1))
        now_enrolled = {c.address for c in plan_now(root, hub).changes if c.action == "enroll"}
        assert {c.address for c in held} <= now_enrolled  # (Kalent's settle window has passed too)


def test_a_window_per_sequence(tmp_path):
    with policy_sandbox(tmp_path, "  send_windows:\n    - {days: [sun], hours: \"00:00-24:00\", timezone: UTC, "
                                    "sequences: [nurture]}\n") as (root, hub):
        clock_to(hub, _next(2, 12, sandbox_now(hub)))  # a Wednesday
        plan = plan_now(root, hub)
        assert {c.address.group for c in plan.changes if c.action == "enroll"} == {"inbound-es", "inbound-en"}
        assert all(c.action == "defer" for c in plan.changes if c.address.group == "nurture")


def test_a_saved_plan_applied_after_its_window_closed_sends_nothing(tmp_path):
    with policy_sandbox(tmp_path, WEEKDAYS) as (root, hub):
        clock_to(hub, _next(4, 16, sandbox_now(hub)).replace(minute=50))  # Friday 16:50 Madrid
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
            live = read_live(session, read_only=True)
            plan = make_plan(session, live)
            assert sum(1 for c in plan.changes if c.action == "enroll") == 11
            clock_to(hub, sandbox_now(hub) + timedelta(minutes=15))  # reviewed, applied at 17:05
            report = apply_plan(session, plan, live)
        enrolls = [r for r in report.results if r.action == "enroll"]
        assert len(enrolls) == 11 and all(r.status == "skipped" for r in enrolls)
        assert enrolls[0].message.startswith("deferred, nothing sent: outside the send windows")
        assert not hub.store.sends()
        assert any(r.action == "create" and r.status == "ok" for r in report.results)


def test_the_plan_json_carries_the_decisions_in_the_documented_shape(tmp_path):
    with policy_sandbox(tmp_path, "  exclusive: true\n  suppress: {emails: [carlos.ruiz@example.es]}\n") as (root, hub):
        data = plan_now(root, hub).to_dict()
        jsonschema.validate(data, json.loads((REPO / "schemas" / "plan.schema.json").read_text()))
        rules = {d["rule"] for d in data["policy"]["decisions"]}
        assert rules == {"suppress", "exclusive"}
        assert data["policy"]["declared"] is True
        changes = {c["address"]: c for c in data["changes"]}
        for decision in data["policy"]["decisions"]:
            assert changes[decision["address"]]["action"] == decision["action"]
            assert changes[decision["address"]]["reason"] == decision["reason"]
            assert changes[decision["address"]]["irreversible"] is False


def test_apply_auto_approve_sees_every_vendor_before_any_writes(tmp_path):
    """`apply --auto-approve` lets each vendor write as soon as its own read is done, unless a rule
    spans vendors: then the policy runs over the whole plan first, so Gary never enrolls a person
    Clarky is about to."""
    from click.testing import CliRunner

    from reconciler.cli import main

    root = policy_project(tmp_path, "  exclusive: true\n  suppress: {emails: [lucia@fernandez-consulting.example]}\n")
    result = CliRunner().invoke(main, ["apply", str(root), "--auto-approve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    enrolled = {line.split()[2] for line in result.output.splitlines() if line.startswith("✓ enroll")}
    assert "clarky.membership[inbound-es][maria-garcia]" in enrolled
    assert not any(a.startswith("gary.membership[nurture][") and a[len("gary.membership[nurture]["):-1] in OVERLAP
                   for a in enrolled), enrolled
    assert not any("lucia-fernandez" in a for a in enrolled)
    assert "exclusive (all sequences): this plan enrolls them in clarky/inbound-es first" in result.output
    hub = open_hub(root)
    try:
        assert all(n == 1 for n in hub.store.sends().values()) and len(hub.store.sends()) == len(enrolled)
    finally:
        hub.store.close()


def test_apply_auto_approve_with_a_per_person_rule_only_still_holds_them_back(tmp_path):
    """A suppression list needs no other vendor's read: each vendor applies it to its own part."""
    from click.testing import CliRunner

    from reconciler.cli import main

    root = policy_project(tmp_path, "  vendor_opt_outs: false\n  suppress: {domains: [example.es]}\n")
    result = CliRunner().invoke(main, ["apply", str(root), "--auto-approve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    enrolled = {line.split()[2] for line in result.output.splitlines() if line.startswith("✓ enroll")}
    assert "gary.membership[nurture][maria-garcia]" in enrolled
    assert not any("carlos-ruiz" in a for a in enrolled) and "suppressed: domain 'example.es'" in result.output


def test_an_unsubscribe_in_one_vendor_suppresses_the_person_in_every_other_and_is_remembered(tmp_path):
    """Clarky's unsubscribe event (its contact's email and phone suppressed, the enrollment stopped):
    Maria's Gary Club membership is skipped with where and when; once recorded, a plan that reads
    Clarky's final status from the state's cache (not from Clarky) still knows it."""
    with policy_sandbox(tmp_path, "  exclusive: true\n") as (root, hub):
        apply_now(root, hub)
        assert "maria@example.com unsubscribed" in hub.event("clarky", "unsubscribe", contact="maria@example.com")
        today = sandbox_now(hub).strftime("%Y-%m-%d")
        expected = ("skip", f"suppressed: unsubscribed in clarky/inbound-es on {today} (policy.vendor_opt_outs)")
        assert by_address(plan_now(root, hub))["gary.membership[nurture][maria-garcia]"] == expected
        clock_to(hub, sandbox_now(hub) + timedelta(minutes=16))  # past status_refresh_minutes: apply reads it
        apply_now(root, hub)  # records the final status; Clarky's final statuses are not read again
        seen = len(hub.store.requests())
        assert any("/sequences/enrollments/" in r["path"] for r in hub.store.requests())  # statuses were read before
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
            plan = make_plan(session, read_live(session, read_only=True))
        maria_status = [r for r in hub.store.requests()[seen:] if "/sequences/enrollments/" in r["path"]]
        assert maria_status == []  # no Clarky status was read: the state's record answered
        assert by_address(plan)["gary.membership[nurture][maria-garcia]"] == expected
        assert all(n == 1 for n in hub.store.sends().values())


def test_max_messages_per_day_refuses_a_plan_whose_forecast_exceeds_it(tmp_path):
    """The example's Gary Club nurture sends 6 messages in its first 24 hours (one per enrollment)."""
    from click.testing import CliRunner

    from reconciler.cli import main

    root = policy_project(tmp_path, "  vendor_opt_outs: true\n", safety="  max_messages_per_day: 5\n")
    result = CliRunner().invoke(main, ["plan", str(root)])
    assert result.exit_code == 1
    assert ("Refused without --allow-large: the forecast of 6 messages in the next 24 h exceeds "
            "max_messages_per_day (5).") in result.output
    assert "apply needs --allow-large" in result.output
    assert CliRunner().invoke(main, ["plan", str(root), "--allow-large"]).exit_code == 0
    refused = CliRunner().invoke(main, ["apply", str(root), "--auto-approve"])
    assert refused.exit_code == 1 and "max_messages_per_day (5)" in refused.output
    hub = open_hub(root)
    try:
        assert not hub.store.sends()
    finally:
        hub.store.close()


def test_a_cooldown_outlives_the_sequence_leaving_the_manifests(tmp_path):
    """The state's record of an ended enrollment counts, even once its sequence is no longer declared."""
    with policy_sandbox(tmp_path, "  exclusive: true\n  cooldown_days: 3\n") as (root, hub):
        apply_now(root, hub)
        hub.event("clarky", "reply", contact="maria@example.com")
        apply_now(root, hub)  # records her ended Clarky enrollment
        sales = root / "sales.yaml"
        sales.write_text(sales.read_text().replace("  - id: inbound-es\n", "  - id: inbound-es-old\n", 1)
                         .replace("members_where:\n      tags_all: [inbound, es]", "members: []"))
        action, reason = by_address(plan_now(root, hub))["gary.membership[nurture][maria-garcia]"]
        assert action == "defer" and reason.startswith("cooldown_days 3: an enrollment in clarky/inbound-es ended ")


def test_a_saved_plan_does_not_enroll_a_person_who_opted_out_after_it_was_saved(tmp_path):
    """A plan saved before Maria unsubscribed in Clarky enrolls her in Gary Club's nurture; applied
    after the unsubscribe (`apply PLAN`, each vendor read afresh), the policy holds that enrollment
    back as a fresh plan would: reported skipped, nothing sent to her in Gary Club."""
    with policy_sandbox(tmp_path, "  vendor_opt_outs: true\n") as (root, hub):
        saved = plan_now(root, hub)
        maria_gary = "gary.membership[nurture][maria-garcia]"
        assert by_address(saved)[maria_gary][0] == "enroll"
        # Maria's Clarky enrollment is applied first (from the same plan), so she can unsubscribe there.
        clarky_first = replace(saved, changes=[c for c in saved.changes
                                               if str(c.address) == "clarky.membership[inbound-es][maria-garcia]"])
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session, \
                ApplyRun(session, replace(UNCHECKED, plan=clarky_first, review=False)) as run:
            run.prepare()
            run.execute()
        assert "maria@example.com unsubscribed" in hub.event("clarky", "unsubscribe", contact="maria@example.com")
        clock_to(hub, sandbox_now(hub) + timedelta(minutes=16))  # past status_refresh_minutes: apply reads it
        gary_only = replace(saved, changes=[c for c in saved.changes if c.provider == "gary"])
        request = replace(UNCHECKED, plan=gary_only, review=False)  # `apply PLAN`: each vendor read afresh
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session, ApplyRun(session, request) as run:
            run.prepare()
            report = run.execute().report
        results = {r.address: r for r in report.results}
        assert results[maria_gary].status == "skipped", results[maria_gary]
        assert "unsubscribed in clarky" in results[maria_gary].message
        gary_sends = [key for key in hub.store.sends() if key[0] == "garyclub"]
        planned = [c for c in gary_only.changes if c.action == "enroll"]
        assert len(gary_sends) == len(planned) - 1  # everyone the saved plan enrolls there, but Maria
        assert any(r.status == "ok" and r.action == "enroll" for r in report.results)
        assert all(n == 1 for n in hub.store.sends().values())
