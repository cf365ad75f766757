"""Kalent's dispatch window, without trusting the state file alone: a start is sent only when nothing
known (this state under any address, this apply, an earlier read) says one may be in flight, and a
candidate never seen before is started only when it is still absent `start_settle_minutes` after
the first read that found it absent.

Kalent starts are held out of the status endpoint for DISPATCH seconds (the sandbox's
`dispatch_delay` fault); every case runs in process and over loopback and ends with the ledger."""

from __future__ import annotations

import pytest

from reconciler.sandbox.core import Fault
from tests.apply._worlds import MODES, make_world

DISPATCH = 300  # Kalent shows a start five minutes after it (the settle window is ten)
SETTLE = 600
KALENT_MEMBERS = ("kalent.membership[backend-outreach][ana-souza]", "kalent.membership[backend-outreach][cand_789]",
                  "kalent.membership[backend-outreach][tom-becker]")


@pytest.fixture(params=MODES)
def world(request, tmp_path, monkeypatch):
    w = make_world(request.param, tmp_path, monkeypatch)
    w.hub.faults.script.append(Fault("dispatch_delay", method="POST", path="/start$", seconds=DISPATCH, times=None))
    yield w
    w.close()


def kalent_sends(world) -> dict[str, int]:
    return {c: n for (v, _, c), n in world.sends().items() if v == "kalent"}


def started_kalent(world) -> None:
    """Everyone is enrolled; Kalent's three starts were sent just now and are still dispatching."""
    first = world.apply()
    assert first.code == 0, first.error
    world.later(SETTLE + 60)
    second = world.apply()
    assert second.code == 0, second.error
    assert kalent_sends(world) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
    world.later(30)


def settles(world, root=None) -> None:
    """Runs after the window: everything shows, nothing more is sent."""
    world.later(SETTLE + 60)
    again = world.apply(root)
    assert again.code == 0, again.error
    assert not [a for a in again.actions("enroll") if a.startswith("kalent.")]
    world.assert_sent_at_most_once()
    assert kalent_sends(world) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}


def test_a_candidate_never_seen_is_started_only_when_still_absent_a_settle_window_later(world):
    plan = world.plan()
    for address in KALENT_MEMBERS:
        action, reason = plan.changes[address]
        assert action == "defer" and "no sequence for candidate" in reason and "start_settle_minutes: 10" in reason
    assert world.apply().code == 0
    assert kalent_sends(world) == {}
    world.later(SETTLE - 120)  # not long enough: the first absent read was eight minutes ago
    assert world.apply().code == 0 and kalent_sends(world) == {}
    world.later(180)
    assert world.apply().code == 0
    assert kalent_sends(world) == {"cand_123": 1, "cand_456": 1, "cand_789": 1}
    settles(world)


def test_losing_the_state_inside_the_dispatch_window_starts_nobody_again(world):
    started_kalent(world)
    world.lose_state()
    plan = world.plan()
    assert {plan.changes[a][0] for a in KALENT_MEMBERS} == {"defer"}
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    settles(world)


def test_renaming_a_member_inside_the_dispatch_window_waits_for_the_start_under_its_old_address(world):
    started_kalent(world)
    recruiting = world.root / "recruiting.yaml"
    recruiting.write_text(recruiting.read_text().replace("id: ana-souza", "id: ana-souza-pt"))
    plan = world.plan()
    action, reason = plan.changes["kalent.membership[backend-outreach][ana-souza-pt]"]
    # The state's row says whom it started: the start is kept under the new address (a rename, issue 13 item 7).
    assert action == "rename" and "kept under its new address (was kalent.membership[backend-outreach][ana-souza])" in reason
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    settles(world)


def test_moving_a_member_to_another_sequence_inside_the_dispatch_window_starts_it_once(world):
    started_kalent(world)
    recruiting = world.root / "recruiting.yaml"
    old = "    candidates: [cand_789]          # a candidate with no contact record here\n"
    text = recruiting.read_text().replace(old, "")
    text += ("  - id: backend-outreach-late\n    provider: kalent\n    blueprint: outreach-v2\n"
             "    candidates: [cand_789]\n")
    recruiting.write_text(text)
    plan = world.plan()
    action, reason = plan.changes["kalent.membership[backend-outreach-late][cand_789]"]
    # The same candidate in the same blueprint: the start is kept under the new address (a move, issue 13 item 7).
    assert action == "rename" and "(was kalent.membership[backend-outreach][cand_789])" in reason
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    settles(world)


def test_a_second_checkout_with_its_own_state_applying_meanwhile_starts_nobody_again(world):
    other = world.second_checkout()
    started_kalent(world)
    plan = world.plan(other)
    assert {plan.changes[a][0] for a in KALENT_MEMBERS} == {"defer"}
    assert world.apply(other).code == 0
    world.assert_sent_at_most_once()
    settles(world, other)
    settles(world)


def test_a_start_recorded_under_another_address_that_kalent_no_longer_shows_is_manual(world):
    started_kalent(world)
    world.later(SETTLE + 60)
    assert world.apply().code == 0  # the starts are seen and recorded
    recruiting = world.root / "recruiting.yaml"
    recruiting.write_text(recruiting.read_text().replace("id: ana-souza", "id: ana-souza-pt"))
    world.later(3600)
    world.hub.faults.script.append(Fault("body", method="GET", path=r"/candidates/cand_123/dynamic-sequence$",
                                         times=None, body={"success": True, "data": {"candidateId": "cand_123",
                                                                                     "sequence": None}}))
    plan = world.plan()
    action, reason = plan.changes["kalent.membership[backend-outreach][ana-souza-pt]"]
    assert action == "manual" and "this state recorded candidate cand_123" in reason
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    assert kalent_sends(world)["cand_123"] == 1


def test_correcting_a_members_candidate_id_waits_a_window_for_the_new_candidate(world):
    """The state's first absent read is of the candidate it read: after an identity edit (a wrong
    candidate id corrected) the new candidate has never been read, so it waits a whole window, during
    which a start by someone else (here a second checkout that knows only Ana) shows."""
    other = world.second_checkout()
    text = (other / "recruiting.yaml").read_text()
    text = text.replace("    candidates: [cand_789]          # a candidate with no contact record here\n", "")
    (other / "recruiting.yaml").write_text(text.replace("cand_456\n    tags: [backend]", "cand_456\n    tags: [qa]"))
    recruiting = world.root / "recruiting.yaml"
    wrong, right = "kalent_candidate_id: cand_790", "kalent_candidate_id: cand_123"
    recruiting.write_text(recruiting.read_text().replace(right, wrong))
    assert world.apply().code == 0  # this checkout's first absent reads (Ana under a wrong candidate id)
    assert world.apply(other).code == 0  # the other checkout's first absent read of cand_123
    world.later(SETTLE + 60)
    assert world.apply(other).code == 0
    assert kalent_sends(world) == {"cand_123": 1}  # sent just now, still dispatching
    world.later(30)
    recruiting.write_text(recruiting.read_text().replace(wrong, right))
    assert world.apply().code == 0  # reads cand_123 for the first time: no sequence yet (dispatching)
    world.assert_sent_at_most_once()
    assert kalent_sends(world)["cand_123"] == 1
    plan = world.plan()  # the new candidate is deferred, not started, until its own window has passed
    action, reason = plan.changes["kalent.membership[backend-outreach][ana-souza]"]
    assert action == "defer" and "no sequence for candidate cand_123" in reason
    settles(world)
