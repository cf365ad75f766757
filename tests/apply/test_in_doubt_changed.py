"""An in-doubt enrollment (a journal intent whose answer was lost) is settled against what was SENT,
never against the manifests as they are now: a changed template or sequence, an edited email, or a
person the contact policy now suppresses never turns the settle step into a second enrollment.
Found by the hostile review (tests/review/test_rev2_sends.py on the `review` branch)."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from reconciler.apply_report import ApplyReport
from reconciler.cli import main
from reconciler.model import Address
from reconciler.orchestrate import ApplyRequest, ApplyRun
from reconciler.sandbox.faults import Fault, FaultPlan
from reconciler.sent_enrollment import SentEnrollment
from reconciler.session import open_session
from reconciler.vocabulary import Operation
from tests.apply._support import apply_once, plan_changes, time_passes
from tests.identity._world import CLARKY_SEQ, GARY_SEQ, TWO_BLUEPRINTS, World

SUPPRESSING_PROJECT = """\
version: 1
providers:
  clarky: {type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, sandbox: true}
  gary: {type: garyclub, api_key_env: GARY_API_KEY, sandbox: true}
  kalent: {type: kalent, api_key_env: KALENT_API_KEY, sandbox: true}
policy:
  suppress:
    emails: [lee@example.org]
"""


def clarky_start_in_doubt(world: World) -> None:
    """Apply the manifests as written, every answer to Clarky's start lost (the keyed retries and the
    in-run replay too): the start commits, and its journal intent stays in doubt."""
    world.hub.faults = FaultPlan(script=[Fault("commit_timeout", method="POST", path=r"/sequences/start$",
                                               vendor="clarky", times=None)])
    first = apply_once(world.root, world.hub)
    assert [r.status for r in first.results] == ["unknown"], first.results
    assert world.sends_for("clarky") == 1  # the start committed; its answer never came back
    world.hub.faults = FaultPlan()


def gary_enrollment_in_doubt(world: World) -> None:
    """Apply the manifests as written with the enrollment POST's answer lost and every roster read that
    would settle it failing (503): the POST commits, and its journal intent stays in doubt."""
    world.hub.faults = FaultPlan(script=[
        Fault("latency", seconds=0.0, method="GET", path=r"/enrollments$", vendor="garyclub", times=1),  # the read
        Fault("commit_timeout", method="POST", path=r"/enrollments$", vendor="garyclub", times=1),
        Fault("status", status=503, method="GET", path=r"/enrollments$", vendor="garyclub", times=None)])
    first = apply_once(world.root, world.hub)
    assert [r.status for r in first.results] == ["unknown"], first.results
    assert world.sends_for("garyclub") == 1  # the POST committed; its answer never came back
    world.hub.faults = FaultPlan()


def test_an_in_doubt_clarky_start_is_not_replayed_into_a_changed_template(tmp_path) -> None:
    """Run 1: Lee's start commits at Clarky but every answer is lost (the keyed retries and the in-run
    replay too): the journal intent stays in doubt. The sequence is then pointed at another template
    (tpl_01HNUR). Run 2 settles the intent by 'replaying' the start, built from today's manifests:
    the new template's key, a new enrollment. Lee is now in both templates."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [lee@example.org]}\n"
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        clarky_start_in_doubt(world)
        world.write(m_yaml=person + CLARKY_SEQ.replace("tpl_01HABC", "tpl_01HNUR") % "lee")
        second = apply_once(world.root, world.hub)
        assert world.sends_for("clarky") == 1, (world.hub.store.sends("clarky"), second.results)
    finally:
        world.close()


def test_an_in_doubt_gary_enrollment_is_not_settled_absent_in_a_changed_sequence(tmp_path) -> None:
    """Run 1: Sam's enrollment POST into 'Post-call nurture' commits but its answer is lost, and the
    roster read that would settle it fails: the intent stays in doubt. The manifest's sequence
    `nurture` is then pointed at 'Webinar follow-up'. Run 2 settles the intent by listing the new
    sequence (nobody there), calls it absent and enrolls Sam into the second Gary sequence."""
    world = World(tmp_path, "inprocess")
    try:
        person = ("contacts:\n"
                  "  - {id: sam, first_name: Sam, emails: [sam@example.org], phone_numbers: ['+15550004444']}\n")
        seq = "sequences:\n  - {id: nurture, provider: gary, sequence: %s, members: [sam]}\n"
        world.write(m_yaml=person + seq % "Post-call nurture")
        gary_enrollment_in_doubt(world)
        world.write(m_yaml=person + seq % "Webinar follow-up")
        second = apply_once(world.root, world.hub)
        assert world.sends_for("garyclub") == 1, (world.hub.store.sends("garyclub"), second.results)
    finally:
        world.close()


def test_an_in_doubt_clarky_start_survives_an_email_edit(tmp_path) -> None:
    """Run 1: Lee is new to Clarky: the contact is created (c_...) and the keyed start commits, but
    every answer to it is lost, so the intent stays in doubt. The manifest then edits Lee's only email.
    Run 2 settles the intent: the lookup by the new email finds no contact, so it is called absent;
    run 3 enrolls Lee again on a second Clarky contact."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [%s]}\n"
        world.write(m_yaml=person % "lee@old.example" + CLARKY_SEQ % "lee")
        clarky_start_in_doubt(world)
        world.write(m_yaml=person % "lee@new.example" + CLARKY_SEQ % "lee")
        reports = [apply_once(world.root, world.hub) for _ in range(3)]
        assert world.sends_for("clarky") == 1, (world.hub.store.sends("clarky"), [r.results for r in reports])
    finally:
        world.close()


def test_an_in_doubt_gary_enrollment_survives_an_email_edit(tmp_path) -> None:
    """Run 1: Sam's enrollment POST commits, its answer is lost and the roster read that would settle it
    fails: the intent stays in doubt. The manifest then edits Sam's only email. Run 2 settles the intent
    by looking Sam up by the new email: no Gary contact, resolved_absent; Sam is enrolled again on a
    second Gary contact."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: sam, first_name: Sam, emails: [%s]}\n"
        world.write(m_yaml=person % "sam@old.example" + GARY_SEQ % "sam")
        gary_enrollment_in_doubt(world)
        world.write(m_yaml=person % "sam@new.example" + GARY_SEQ % "sam")
        reports = [apply_once(world.root, world.hub) for _ in range(3)]
        assert world.sends_for("garyclub") == 1, (world.hub.store.sends("garyclub"), [r.results for r in reports])
    finally:
        world.close()


def test_an_in_doubt_clarky_start_that_never_arrived_is_not_sent_to_a_suppressed_person(tmp_path) -> None:
    """Run 1: Lee's start is dropped on the way (nothing created at Clarky), every retry and the in-run
    replay too: the intent stays in doubt. Lee then asks not to be contacted (policy.suppress). Run 2's
    settle step replays the keyed start, which is the first start Clarky ever sees: Lee is enrolled."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [lee@example.org]}\n"
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        world.hub.faults = FaultPlan(script=[Fault("drop", method="POST", path=r"/sequences/start$", vendor="clarky",
                                                   times=None)])
        first = apply_once(world.root, world.hub)
        assert [r.status for r in first.results] == ["unknown"], first.results
        assert world.sends_for("clarky") == 0  # nothing arrived
        world.hub.faults = FaultPlan()
        world.write(campaignctl_yaml=SUPPRESSING_PROJECT, m_yaml=person + CLARKY_SEQ % "lee")
        planned = {str(c.address): (c.action, c.reason) for c in plan_changes(world.root, world.hub)}
        second = apply_once(world.root, world.hub)
        assert world.sends_for("clarky") == 0, (planned, second.results)
    finally:
        world.close()


def _fixed_apply(world: World) -> ApplyReport:
    """`apply --auto-approve` without --target: each vendor reads, settles and writes on its own
    (reconciler/pipeline.py), so the settle step runs inside execute."""
    request = ApplyRequest(allow_large=True, force=True, partial=True)
    with open_session(world.root, env={}, hub=world.hub) as session, ApplyRun(session, request) as run:
        run.prepare()
        return run.execute().report


def _lost_clarky_start(world: World, kind: str) -> None:
    """Run 1: Lee's keyed start is lost (`kind`: committed with its answer lost, or dropped before
    Clarky saw it), every retry and the in-run replay too: the intent stays in doubt."""
    world.hub.faults = FaultPlan(script=[Fault(kind, method="POST", path=r"/sequences/start$", vendor="clarky",
                                               times=None)])
    first = apply_once(world.root, world.hub)
    assert [r.status for r in first.results] == ["unknown"], first.results
    world.hub.faults = FaultPlan()


def _intent_details(world: World) -> list[dict]:
    db = sqlite3.connect(str(world.root / ".campaignctl" / "state.db"))
    rows = db.execute("SELECT detail FROM journal WHERE phase = 'intent' AND operation = 'enroll'").fetchall()
    db.close()
    return [json.loads(detail) for (detail,) in rows]


def test_a_suppressed_persons_start_that_never_arrived_is_not_replayed_by_a_fixed_plan_apply(tmp_path) -> None:
    """The same as above through the per-vendor pipeline (settling inside execute): nothing is sent."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [lee@example.org]}\n"
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        _lost_clarky_start(world, "drop")
        world.write(campaignctl_yaml=SUPPRESSING_PROJECT, m_yaml=person + CLARKY_SEQ % "lee")
        reports = [_fixed_apply(world) for _ in range(2)]
        assert world.sends_for("clarky") == 0, [r.results for r in reports]
        # Lee asks again to be contacted: the next apply settles the start by its keyed replay.
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        _fixed_apply(world)
        assert world.sends_for("clarky") == 1
        assert [c.action for c in plan_changes(world.root, world.hub)] == []
    finally:
        world.close()


def test_the_intent_records_what_the_start_carried_and_an_unchanged_start_is_still_settled_by_its_replay(
        tmp_path) -> None:
    """The intent's detail names the template and the person; with the manifests unchanged the keyed
    replay settles the start (the original comes back: one send) and the plan has nothing left."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [Lee@Example.org]}\n"
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        _lost_clarky_start(world, "commit_timeout")
        assert [d.get("sent") for d in _intent_details(world)] == [
            {"target": "tpl_01HABC", "person": ["email:lee@example.org"], "contact": None}]
        shown = CliRunner().invoke(main, ["state", "show", "clarky.membership[inbound][lee]", "--dir", str(world.root)],
                                   env={"NO_COLOR": "1"}, catch_exceptions=False).output
        assert "enroll (attempt 0)  intent  into 'tpl_01HABC' for email:lee@example.org" in shown, shown
        second = apply_once(world.root, world.hub)
        assert world.sends_for("clarky") == 1, second.results
        assert [c.action for c in plan_changes(world.root, world.hub)] == []
    finally:
        world.close()


def test_an_intent_an_earlier_version_wrote_is_settled_as_before(tmp_path) -> None:
    """State written by an earlier campaignctl: the intent's detail has no `sent` record. Its start is
    settled by the keyed replay as it always was (one send, nothing left to plan)."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: lee, first_name: Lee, emails: [lee@example.org]}\n"
        world.write(m_yaml=person + CLARKY_SEQ % "lee")
        _lost_clarky_start(world, "drop")
        world.state_sql("UPDATE journal SET detail = '{\"sequence\": \"inbound\"}' WHERE phase = 'intent'")
        assert [d.get("sent") for d in _intent_details(world)] == [None]
        planned = [(c.action, c.reason) for c in plan_changes(world.root, world.hub)]
        assert [a for a, _ in planned] == ["defer"], planned
        apply_once(world.root, world.hub)
        assert world.sends_for("clarky") == 1
        assert [c.action for c in plan_changes(world.root, world.hub)] == []
    finally:
        world.close()


def test_a_gary_enrollment_in_doubt_that_never_arrived_is_settled_absent_and_enrolled_where_the_manifests_say(
        tmp_path) -> None:
    """An apply died between its intent to enroll Sam into 'Post-call nurture' and the request (the
    intent, as this version writes it, is all the state holds); the sequence is then pointed at
    'Webinar follow-up'. Reading the sequence as sent proves nothing was created there, so the intent
    is settled absent and Sam is enrolled once, where the manifests now say."""
    world = World(tmp_path, "inprocess")
    try:
        person = "contacts:\n  - {id: sam, first_name: Sam, emails: [sam@example.org]}\n"
        seq = "sequences:\n  - {id: nurture, provider: gary, sequence: %s, members: [sam]}\n"
        world.write(m_yaml=person + seq % "Webinar follow-up")
        sent = SentEnrollment("Post-call nurture", ("email:sam@example.org",))
        with open_session(world.root, env={}, hub=world.hub) as session:
            session.store.intent("crashed", Address.parse("gary.membership[nurture][sam]"), Operation.ENROLL,
                                 detail={"sequence": "nurture", **sent.detail()})
        planned = [(c.action, c.reason) for c in plan_changes(world.root, world.hub)]
        assert [a for a, _ in planned] == ["enroll"], planned  # read as sent: absent
        apply_once(world.root, world.hub)
        sends = world.hub.store.sends("garyclub")
        assert list(sends.values()) == [1] and [s for _, s, _ in sends] == ["seq_EXAMPLE_bbbb"], sends
        assert [c.action for c in plan_changes(world.root, world.hub)] == []
        assert [e.result for e in world_journal(world) if e.phase == "outcome"][:1] == ["resolved_absent"]
    finally:
        world.close()


def world_journal(world: World) -> list:
    with open_session(world.root, env={}, hub=world.hub) as session:
        return session.store.journal("gary.membership[nurture][sam]")


def test_an_in_doubt_kalent_start_is_read_as_sent_after_its_blueprint_changed(tmp_path) -> None:
    """Kalent settles by reading, not by a replay: cand_789's start into bp-a commits with its answer
    lost; the sequence is then pointed at bp-b. Past the settle window the start is read as sent: it
    ran, so the member is `manual` (then `skip`: a sequence of another blueprint runs), never started."""
    world = World(tmp_path, "inprocess")
    root, hub = world.root, world.hub
    try:
        seq = "sequences:\n  - {id: s-b, provider: kalent, blueprint: %s, candidates: [cand_789]}\n"
        world.write(m_yaml=TWO_BLUEPRINTS + seq % "bp-a")
        apply_once(root, hub)  # the blueprints, and the first absent read
        time_passes(root, hub, 660)
        hub.faults = FaultPlan(script=[Fault("commit_timeout", method="POST", path=r"/start$", vendor="kalent")])
        assert [r.status for r in apply_once(root, hub).results] == ["unknown"]
        hub.faults = FaultPlan()
        world.write(m_yaml=TWO_BLUEPRINTS + seq % "bp-b")
        time_passes(root, hub, 660)
        planned = [(c.action, c.reason) for c in plan_changes(root, hub)]
        assert [a for a, _ in planned] == ["manual"] and "enrolled there as sent" in planned[0][1], planned
        for _ in range(2):
            apply_once(root, hub)
            time_passes(root, hub, 660)
        assert hub.store.sends("kalent") == {("kalent", "bp_00000001", "cand_789"): 1}
        assert [c.action for c in plan_changes(root, hub)] == ["skip"]
    finally:
        world.close()
