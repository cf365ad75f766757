"""Apply's dispatch: every executable (kind, action) pair the planner can produce has its handler,
and a planned `stop` of an enrollment is handled as one (it once fell into the card path, journaled
an intent named `stop_blueprint` and raised KeyError)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.apply import HANDLERS, apply_plan
from reconciler.cli import main
from reconciler.engine import make_plan, open_session, read_live
from reconciler.plan import PLANNED
from reconciler.plan_types import Change, Plan
from reconciler.snapshot import FINISHED, LiveMembership
from reconciler.vocabulary import Action, Kind
from tests.apply._support import SMALL_NURTURE, apply_once, open_hub, small_project, writes

ENV = {"CAMPAIGNCTL_SANDBOX": "1", "CAMPAIGNCTL_SANDBOX_RATE_LIMITS": "off", "NO_COLOR": "1"}
REMOVED = "gary.membership[nurture][john-smith]"


def _enrolled_then_removed(root: Path) -> None:
    """Both nurture members enrolled at Gary Club, then john-smith taken out of the manifest."""
    hub = open_hub(root)
    try:
        apply_once(root, hub)
    finally:
        hub.store.close()
    (root / "nurture.yaml").write_text(SMALL_NURTURE.replace("[maria-garcia, john-smith]", "[maria-garcia]"))


def _removed_change(changes: list[Change]) -> Change:
    (change,) = [c for c in changes if str(c.address) == REMOVED]
    assert change.action == "manual"  # Gary Club's API cannot stop an enrollment
    return change


def test_a_planned_stop_of_an_enrollment_is_not_sent_down_the_card_path(tmp_path):
    """A plan made where the vendor could stop enrollments, applied where it cannot: a clear failure,
    nothing sent, nothing journaled; never a KeyError or a `stop_blueprint` intent."""
    root = small_project(tmp_path)
    _enrolled_then_removed(root)
    hub = open_hub(root)
    try:
        with open_session(root, env={}, hub=hub) as session:
            live = read_live(session, read_only=True)
            stop = dataclasses.replace(_removed_change(make_plan(session, live).changes), action="stop")
            journal_before = session.store.journal()
            writes_before = writes(hub)
            report = apply_plan(session, Plan(changes=[stop]), live)
            journal_after = session.store.journal()
            remembered = session.store.cache().get(stop.address)
        assert [(r.address, r.action, r.status) for r in report.results] == [(REMOVED, "stop", "failed")]
        message = report.results[0].message
        assert "cannot stop an enrollment" in message and "nothing was sent" in message
        assert journal_after == journal_before  # no intent: no write was attempted
        assert writes(hub) == writes_before
        assert remembered is not None and remembered.status == "active"  # the state still knows it
        assert report.summary_line() == "Apply complete: 1 failed."
    finally:
        hub.store.close()


def test_a_stop_where_the_vendor_can_stop_is_journaled_as_a_stop_and_remembered(tmp_path, monkeypatch):
    """No vendor's API can stop an enrollment today; a stand-in for one (the simulator's own cancel,
    what a user does in Gary Club's UI) shows the handler's write path: intent `stop`, outcome `ok`,
    the state row updated, the report saying `stopped`."""
    root = small_project(tmp_path)
    _enrolled_then_removed(root)
    hub = open_hub(root)
    try:
        with open_session(root, env={}, hub=hub) as session:
            live = read_live(session, read_only=True)
            stop = dataclasses.replace(_removed_change(make_plan(session, live).changes), action="stop")
            gary = session.providers["gary"]

            def stop_membership(lm: LiveMembership) -> LiveMembership:
                hub.simulators["garyclub"].ev_cancel(lm.contact_remote_id)
                return dataclasses.replace(lm, status=FINISHED, vendor_status="cancelled")

            monkeypatch.setattr(gary, "capabilities", dataclasses.replace(gary.capabilities, can_stop_membership=True))
            monkeypatch.setattr(gary, "stop_membership", stop_membership, raising=False)
            report = apply_plan(session, Plan(changes=[stop]), live)
            entries = session.store.journal(REMOVED)
            remembered = session.store.cache()[stop.address]
        assert [(r.action, r.status) for r in report.results] == [("stop", "ok")]
        assert report.summary_line() == "Apply complete: 1 stopped."
        assert [(e.operation, e.phase, e.result) for e in entries][-2:] == [("stop", "intent", None),
                                                                              ("stop", "outcome", "ok")]
        assert (remembered.status, remembered.vendor_status) == ("finished", "cancelled")
        assert remembered.person  # still knows whose enrollment it was
    finally:
        hub.store.close()


def test_a_saved_plan_with_a_stop_applies_through_the_cli_with_a_clear_result(tmp_path):
    root = small_project(tmp_path)
    _enrolled_then_removed(root)
    runner = CliRunner(env=ENV)
    saved = tmp_path / "plan.json"
    planned = runner.invoke(main, ["plan", str(root), "--out", str(saved)], catch_exceptions=False)
    assert planned.exit_code == 0, planned.output
    data = json.loads(saved.read_text())
    (entry,) = [c for c in data["changes"] if c["address"] == REMOVED]
    assert entry["action"] == "manual"
    entry["action"] = "stop"  # as saved where the vendor's API could stop an enrollment
    saved.write_text(json.dumps(data))
    hub = open_hub(root)
    writes_before = writes(hub)
    hub.store.close()
    applied = runner.invoke(main, ["apply", str(saved), "--auto-approve", "--target", REMOVED])
    assert applied.exit_code == 1, applied.output
    assert "internal error" not in applied.output.lower()
    assert f"✗ stop      {REMOVED}" in applied.stdout
    assert "cannot stop an enrollment" in applied.stdout
    hub = open_hub(root)
    try:
        assert writes(hub) == writes_before
    finally:
        hub.store.close()


def test_every_executable_pair_the_planner_produces_has_exactly_one_handler():
    planned = {(kind, action) for kind, actions in PLANNED.items() for action in actions}
    executable = {pair for pair in planned if pair[1].executable}
    assert executable, "the planner produces executable changes"
    missing = sorted(executable - set(HANDLERS))
    assert missing == [], f"planned but no handler in apply: {missing}"
    # and no handler for what is never planned, or never executed (a dead entry hides a missing one)
    assert sorted(set(HANDLERS) - executable) == []
    assert (Kind.MEMBERSHIP, Action.STOP) in HANDLERS and HANDLERS[(Kind.MEMBERSHIP, Action.STOP)] is not \
        HANDLERS[(Kind.CARD, Action.DELETE)]


def test_the_planner_refuses_to_produce_a_pair_outside_planned(tmp_path):
    """PLANNED is what the planner can produce: its one constructor checks every change against it."""
    from reconciler.model import Address
    from reconciler.plan import _change

    with pytest.raises(ValueError, match="no 'enroll' for a card"):
        _change(Address("clarky", "card", "sales", "ana"), Action.ENROLL)


def test_an_unknown_pair_in_a_saved_plan_fails_clearly_and_sends_nothing(tmp_path):
    root = small_project(tmp_path)
    hub = open_hub(root)
    try:
        with open_session(root, env={}, hub=hub) as session:
            live = read_live(session, read_only=True)
            card = next(c for c in make_plan(session, live).changes if c.address.kind == Kind.CARD)
            odd = dataclasses.replace(card, action=Action.ENROLL, precondition={})  # a hand-edited plan file
            journal_before = session.store.journal()
            report = apply_plan(session, Plan(changes=[odd]), live)
            assert session.store.journal() == journal_before
        (result,) = report.results
        assert (result.action, result.status) == ("enroll", "failed")
        assert result.message.startswith("apply cannot enroll a card") and "nothing was sent" in result.message
        assert writes(hub) == []
    finally:
        hub.store.close()


def test_a_plan_file_with_an_unknown_action_is_refused_on_loading(tmp_path):
    root = small_project(tmp_path)
    runner = CliRunner(env=ENV)
    saved = tmp_path / "plan.json"
    assert runner.invoke(main, ["plan", str(root), "--out", str(saved)], catch_exceptions=False).exit_code == 0
    data = json.loads(saved.read_text())
    data["changes"][0]["action"] = "launch"
    saved.write_text(json.dumps(data))
    applied = runner.invoke(main, ["apply", str(saved), "--auto-approve"])
    assert applied.exit_code == 1
    assert "not a campaignctl plan file ('launch' is not a valid Action)" in applied.stderr
    hub = open_hub(root)
    try:
        assert writes(hub) == []
    finally:
        hub.store.close()
