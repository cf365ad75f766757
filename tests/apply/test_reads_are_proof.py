"""Reads are proof or errors: a 2xx that is not the documented shape (an HTML maintenance page, `{}`,
no list key) stops `plan` and `apply` with a typed error naming vendor, request and status; a 404
on a status read and a known enrollment that now reads as absent are `manual`, never an enroll.

Every case runs in process and over loopback, and ends with the sandbox's send ledger."""

from __future__ import annotations

import pytest

from reconciler.sandbox.core import Fault
from tests.apply._worlds import MODES, make_world

HTML = "<html><head><title>Down for maintenance</title></head><body>Back soon</body></html>"
GARBAGE = {
    "html": lambda path, key: Fault("body", method="GET", path=path, raw=HTML, status=200, times=None),
    "empty-object": lambda path, key: Fault("body", method="GET", path=path, body={}, times=None),
    "no-list-key": lambda path, key: Fault("strip", method="GET", path=path, key=key, times=None),
}
# vendor -> (the request that answers garbage, the documented key it loses, the error's prefix)
READS = {
    "gary": (r"/sequences/[^/]+/enrollments$", "data", "gary: GET /sequences/"),
    "kalent": (r"/dynamic-sequence$", "data.sequence", "kalent: GET /candidates/"),
    "clarky": (r"/pipeline-cards$", "data", "clarky: GET /pipeline-cards"),
}
SMALL_SENDS = 8


@pytest.fixture(params=MODES)
def world(request, tmp_path, monkeypatch):
    w = make_world(request.param, tmp_path, monkeypatch)
    yield w
    w.close()


def _everyone_enrolled_then_some_reply(world) -> None:
    first = world.apply()
    assert first.code == 0, first.error
    world.later(660)  # Kalent's first reads of "no sequence" are a settle window old: now it starts them
    second = world.apply()
    assert second.code == 0, second.error
    world.later(660)  # Kalent starts are visible, and past their settle window
    world.hub.event("garyclub", "reply", contact="maria@example.com")  # auto-paused: a POST would send again
    world.hub.event("kalent", "reply", candidate="cand_123")
    assert len(world.sends()) == SMALL_SENDS


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
@pytest.mark.parametrize("vendor", sorted(READS))
def test_a_garbage_2xx_read_after_state_loss_is_a_typed_error_never_an_empty_list(world, vendor, garbage):
    _everyone_enrolled_then_some_reply(world)
    world.lose_state()
    path, key, names = READS[vendor]
    world.hub.faults.script.append(GARBAGE[garbage](path, key))
    cards_before = len(world.hub.store.collection("clarky.cards"))

    plan = world.plan()
    assert plan.code == 1, plan.changes
    assert names in plan.error and "-> 200" in plan.error and "proves nothing" in plan.error
    assert "Traceback" not in plan.error and "internal error" not in plan.error.lower()
    applied = world.apply()
    assert applied.code == 1 and names in applied.error

    world.assert_sent_at_most_once()
    assert len(world.sends()) == SMALL_SENDS
    assert len(world.hub.store.collection("clarky.cards")) == cards_before


def test_a_404_on_a_kalent_status_read_after_state_loss_is_manual_never_a_start(world):
    _everyone_enrolled_then_some_reply(world)
    world.lose_state()
    world.hub.faults.script.append(Fault("status", status=404, code="not_found", message="Candidate not found",
                                         method="GET", path=r"/candidates/cand_123/dynamic-sequence$", times=None))
    plan = world.plan()
    assert plan.code == 0, plan.error
    action, reason = plan.changes["kalent.membership[backend-outreach][ana-souza]"]
    assert action == "manual" and "404" in reason and "does not prove" in reason
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    assert world.sends()[("kalent", _blueprint_id(world), "cand_123")] == 1


@pytest.mark.parametrize("vendor", ["gary", "kalent"])
def test_a_known_enrollment_that_now_reads_absent_is_manual_never_an_enroll(world, vendor):
    _everyone_enrolled_then_some_reply(world)
    world.later(3600)  # every cached status is stale: re-read
    if vendor == "gary":  # a well-formed answer that has lost the rows (a vendor-side bug, a wrong tenant)
        fault = Fault("body", method="GET", path=r"/sequences/[^/]+/enrollments$", times=None,
                      body={"data": [], "next_page_token": None, "total": 0})
        address = "gary.membership[nurture][maria-garcia]"
    else:
        fault = Fault("body", method="GET", path=r"/candidates/cand_123/dynamic-sequence$", times=None,
                      body={"success": True, "data": {"candidateId": "cand_123", "sequence": None}})
        address = "kalent.membership[backend-outreach][ana-souza]"
    world.hub.faults.script.append(fault)

    plan = world.plan()
    assert plan.code == 0, plan.error
    action, reason = plan.changes[address]
    assert action == "manual" and "the state recorded this enrollment" in reason and "now shows none" in reason
    assert not plan.actions("enroll")
    assert world.apply().code == 0
    world.assert_sent_at_most_once()
    assert len(world.sends()) == SMALL_SENDS


def _blueprint_id(world) -> str:
    return next(s for (v, s, c) in world.sends() if v == "kalent")
