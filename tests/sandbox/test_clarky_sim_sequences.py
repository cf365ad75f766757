"""The Clarky simulator's sequences: start, the duplicate-send traps, the status timeline on the
simulated clock, suppressions and the contact events (reply, unsubscribe, approve, stop)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.sandbox._clarky import DAY, MARIA_START, Clarky, error_code, start_body
from tests.sandbox.loopback import over_both_transports

START_KEYS = {"sequence_id", "enrollment_id", "contact_id", "contact_action", "auto_approve", "status", "status_url"}
ENROLLMENT_KEYS = {"id", "sequence_id", "contact_id", "status", "generation_error", "approved_at", "stop_reason",
                   "created_at", "updated_at", "sequence", "steps"}


@over_both_transports("clarky")
def test_start_example_and_status_shape(clarky: Clarky) -> None:
    data = clarky.start(MARIA_START)["data"]
    assert set(data) == START_KEYS
    assert data["contact_action"] == "created" and data["status"] == "generating" and data["auto_approve"] is True
    assert data["enrollment_id"].startswith("enr_") and data["sequence_id"].startswith("seq_")
    assert data["status_url"] == f"/api/v1/sequences/enrollments/{data['enrollment_id']}"
    clarky.advance(70)  # generation (60 s) + the first step going out (7 s)
    status = clarky.enrollment(data["enrollment_id"])
    assert set(status) == ENROLLMENT_KEYS
    assert status["sequence"] == {"id": data["sequence_id"], "name": "Inbound lead — Spanish", "status": "active",
                                  "bot_id": "b_01HDEF", "template_id": "tpl_01HABC"}
    first, second = status["steps"][:2]
    assert (first["channel"], first["to_identifier"], first["status"]) == ("voice", "+34911234567", "sent")
    assert first["scheduled_for"] == status["approved_at"] and first["sent_at"] is not None
    assert (second["channel"], second["status"], second["sent_at"]) == ("email", "scheduled", None)
    assert {"id", "sort_order", "voice_objective", "voice_script"} <= set(first) and "email_subject" in second
    contact = clarky.api.get(f"/contacts/{data['contact_id']}").json()["data"]
    assert contact["notes"] == MARIA_START["contact"]["notes"] and contact["company"] == "Acme Spain"


def test_start_errors(clarky: Clarky) -> None:
    cases = [
        ({"contact": {"emails": ["a@b.example"]}}, 400, "bad_request"),
        ({"template_id": "tpl_01HABC"}, 400, "bad_request"),
        (start_body("a@b.example", template="tpl_nope"), 404, "not_found"),
        (start_body("a@b.example", template="tpl_01HNUR"), 400, "bad_request"),  # template without bot, no bot_id
        (start_body("a@b.example", template="tpl_01HNUR", bot_id="b_elsewhere"), 422, "validation_error"),
        ({"template_id": "tpl_01HABC", "contact": {"first_name": "Nobody"}}, 422, "validation_error"),
        (start_body("a@b.example", auto_approve="yes"), 422, "validation_error"),
        (start_body("a@b.example", channel="sms"), 400, "bad_request"),
        (start_body("not-an-email"), 422, "validation_error"),
    ]
    for body, status, code in cases:
        resp = clarky.api.post("/sequences/start", json=body)
        assert (resp.status_code, error_code(resp)) == (status, code), body
    assert clarky.sends() == {}
    assert clarky.api.get("/sequences/enrollments/enr_nope").status_code == 404
    ok = clarky.start(start_body("a@b.example", template="tpl_01HNUR", bot_id="b_01HDEF"))
    assert ok["data"]["status"] == "generating"


def test_idempotent_replay_returns_original_ids_sends_once_and_appends_notes(clarky: Clarky) -> None:
    first = clarky.start(MARIA_START)["data"]
    replay = clarky.start(MARIA_START)["data"]
    assert (replay["enrollment_id"], replay["sequence_id"], replay["contact_id"]) == (
        first["enrollment_id"], first["sequence_id"], first["contact_id"])
    assert replay["contact_action"] == "updated"
    assert clarky.sends() == {("clarky", "tpl_01HABC", first["contact_id"]): 1}
    notes = clarky.api.get(f"/contacts/{first['contact_id']}").json()["data"]["notes"]
    assert notes.count("Speaks Spanish.") == 2  # the trap: notes are appended even on a replay
    other = copy.deepcopy(MARIA_START)
    other["auto_approve"] = False  # same key, different body: the key wins
    other["name"] = "Another name"
    assert clarky.start(other)["data"]["enrollment_id"] == first["enrollment_id"]
    assert len(clarky.sends()) == 1


def test_start_without_key_twice_enrolls_twice(clarky: Clarky) -> None:
    body = {k: v for k, v in MARIA_START.items() if k != "idempotency_key"}
    first = clarky.start(body)["data"]
    second = clarky.start(body)["data"]
    assert first["enrollment_id"] != second["enrollment_id"]
    assert first["contact_id"] == second["contact_id"] and second["contact_action"] == "updated"
    assert clarky.sends() == {("clarky", "tpl_01HABC", first["contact_id"]): 2}


def test_upsert_matches_primary_email_case_insensitively_then_phone(clarky: Clarky) -> None:
    first = clarky.start(MARIA_START)["data"]
    by_email = clarky.start({"template_id": "tpl_01HABC", "contact": {"emails": ["MARIA@EXAMPLE.COM"]}})["data"]
    by_phone = clarky.start({"template_id": "tpl_01HABC", "contact": {"phone_numbers": ["+34911234567"]}})["data"]
    assert by_email["contact_id"] == by_phone["contact_id"] == first["contact_id"]
    fresh = clarky.start({"template_id": "tpl_01HABC", "contact": {"emails": [{"email": "new@x.example", "is_primary": True}]}})
    assert fresh["data"]["contact_action"] == "created" and fresh["data"]["contact_id"] != first["contact_id"]


def test_status_timeline_with_auto_approve(clarky: Clarky) -> None:
    eid = clarky.start(MARIA_START)["data"]["enrollment_id"]
    clarky.advance(59)
    assert clarky.enrollment(eid)["status"] == "generating" and clarky.enrollment(eid)["steps"] == []
    clarky.advance(2)
    in_flight = clarky.enrollment(eid)
    assert in_flight["status"] == "approved" and in_flight["steps"][0]["status"] == "scheduled"
    clarky.advance(2 * DAY + 10)
    running = clarky.enrollment(eid)
    assert running["status"] == "running"
    assert [s["status"] for s in running["steps"]] == ["sent", "sent", "scheduled"]
    clarky.advance(3 * DAY)
    done = clarky.enrollment(eid)
    assert done["status"] == "completed" and {s["status"] for s in done["steps"]} == {"sent"}
    assert done["sequence"]["status"] == "completed"


def test_pending_approval_until_approved(clarky: Clarky) -> None:
    body = start_body("lead@x.example", auto_approve=False, idempotency_key="k1")
    body["contact"]["phone_numbers"] = ["+15550001111"]
    data = clarky.start(body)["data"]
    clarky.advance(120)
    pending = clarky.enrollment(data["enrollment_id"])
    assert pending["status"] == "pending_approval" and pending["approved_at"] is None
    assert {s["status"] for s in pending["steps"]} == {"draft"}
    assert "approved 1" in clarky.event("approve", contact="lead@x.example")
    approved = clarky.enrollment(data["enrollment_id"])
    assert approved["status"] == "approved" and approved["approved_at"] is not None
    assert "approved 0" in clarky.event("approve", enrollment_id=data["enrollment_id"])


def test_generation_seconds_and_stall_are_configurable() -> None:
    fast = Clarky({"config": {"generation_seconds": 5}})
    stuck = Clarky({"config": {"stall_generation": True}})
    try:
        eid = fast.start(start_body("a@x.example", auto_approve=True))["data"]["enrollment_id"]
        fast.advance(6)
        assert fast.enrollment(eid)["status"] == "approved"
        eid = stuck.start(start_body("a@x.example", auto_approve=True))["data"]["enrollment_id"]
        stuck.advance(30 * DAY)
        assert stuck.enrollment(eid)["status"] == "generating"
    finally:
        fast.close()
        stuck.close()


def test_suppressed_contact_fails_with_no_usable_channels(clarky: Clarky) -> None:
    data = clarky.start(start_body("optout@example.com", auto_approve=True))["data"]
    assert data["contact_id"] == "c_01HOPT" and data["status"] == "failed"
    status = clarky.enrollment(data["enrollment_id"])
    assert (status["status"], status["generation_error"], status["steps"]) == ("failed", "no_usable_channels", [])
    clarky.advance(DAY)
    assert clarky.enrollment(data["enrollment_id"])["status"] == "failed"


def test_channels_the_contact_cannot_receive_are_skipped(clarky: Clarky) -> None:
    eid = clarky.start(start_body("emailonly@x.example", auto_approve=True))["data"]["enrollment_id"]
    clarky.advance(6 * DAY)
    status = clarky.enrollment(eid)
    assert [s["status"] for s in status["steps"]] == ["skipped", "sent", "sent"]  # voice step: no phone
    assert status["status"] == "completed"


def test_reply_stops_active_enrollments(clarky: Clarky) -> None:
    eid = clarky.start(MARIA_START)["data"]["enrollment_id"]
    clarky.advance(70)
    assert "stopped 1" in clarky.event("reply", contact="maria@example.com")
    status = clarky.enrollment(eid)
    assert (status["status"], status["stop_reason"]) == ("stopped_reply", "reply")
    assert [s["status"] for s in status["steps"]] == ["sent", "cancelled", "cancelled"]
    clarky.advance(10 * DAY)
    assert clarky.enrollment(eid)["status"] == "stopped_reply"
    assert "stopped 0" in clarky.event("reply", contact="+34911234567")


def test_unsubscribe_suppresses_and_stops(clarky: Clarky) -> None:
    data = clarky.start(MARIA_START)["data"]
    clarky.event("unsubscribe", contact=data["contact_id"])
    assert clarky.enrollment(data["enrollment_id"])["status"] == "stopped_unsubscribed"
    again = clarky.start(start_body("maria@example.com"))["data"]
    assert again["status"] == "failed"
    assert clarky.enrollment(again["enrollment_id"])["generation_error"] == "no_usable_channels"


def test_stop_by_user(clarky: Clarky) -> None:
    eid = clarky.start(MARIA_START)["data"]["enrollment_id"]
    other = clarky.start(start_body("someone@x.example"))["data"]["enrollment_id"]
    assert "stopped 1" in clarky.event("stop", contact="maria@example.com")
    assert clarky.enrollment(eid)["status"] == "stopped_user"
    assert clarky.enrollment(eid)["stop_reason"] == "user"
    assert clarky.enrollment(other)["status"] == "generating"
    with pytest.raises(ValueError):
        clarky.event("reply", contact="nobody@nowhere.example")


def test_fail_event_keeps_sent_steps_and_reason(clarky: Clarky) -> None:
    eid = clarky.start(MARIA_START)["data"]["enrollment_id"]
    clarky.advance(70)
    assert "failed 1" in clarky.event("fail", enrollment_id=eid, reason="dispatch_error")
    status = clarky.enrollment(eid)
    assert (status["status"], status["generation_error"], status["sequence"]["status"]) == ("failed", "dispatch_error", "failed")
    assert [s["status"] for s in status["steps"]] == ["sent", "cancelled", "cancelled"]
    assert "failed 0" in clarky.event("fail", contact="maria@example.com")


def test_state_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    first = Clarky(path=path)
    data = first.start(MARIA_START)["data"]
    first.advance(61)
    first.close()
    second = Clarky(path=path)
    try:
        replay = second.start(MARIA_START)["data"]
        assert replay["enrollment_id"] == data["enrollment_id"] and replay["status"] == "approved"
        assert second.sends() == {("clarky", "tpl_01HABC", data["contact_id"]): 1}
        created = second.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "n"}).json()["data"]
        assert created["order_index"] == 1  # stage tail rebuilt from the store
    finally:
        second.close()
