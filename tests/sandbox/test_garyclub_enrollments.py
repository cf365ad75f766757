"""Gary Club simulator: enrollments (idempotent only while active, the re-enroll trap), auto-pause
on reply, steps on the simulated clock, events, persistence and bulk seeding."""

from __future__ import annotations

import pytest

from reconciler.sandbox.core import parse_iso
from tests.sandbox.garyclub_helpers import SEQ, client, example_seed, make_hub, new_contact, sim


@pytest.fixture
def hub():
    h = make_hub()
    yield h
    h.store.close()


@pytest.fixture
def http(hub):
    with client(hub) as c:
        yield c


def enroll(http, contact_id, seq=SEQ, **extra):
    return http.post(f"/sequences/{seq}/enrollments", json={"contact_id": contact_id, **extra})


def enrollments(http, seq=SEQ, **params):
    return http.get(f"/sequences/{seq}/enrollments", params=params).json()["data"]


def test_enrollment_is_idempotent_while_active(hub, http):
    cid = new_contact(http, "ann@example.com")
    first = enroll(http, cid, metadata={"source": "campaignctl"})
    again = enroll(http, cid)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["idempotent"] is True
    assert again.json()["enrollment"]["id"] == first.json()["enrollment"]["id"]
    assert again.json()["enrollment"]["metadata"] == {"source": "campaignctl"}   # the existing row, untouched
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, cid): 1}
    assert len(enrollments(http)) == 1


def test_posting_after_a_pause_creates_a_new_enrollment_the_trap(hub, http):
    cid = new_contact(http, "ann@example.com", phone="+14155550123")
    first = enroll(http, cid).json()["enrollment"]
    assert "1 enrollment paused" in hub.event("garyclub", "reply", contact="+14155550123")
    second = enroll(http, cid)
    assert second.status_code == 201 and second.json()["idempotent"] is False
    assert second.json()["enrollment"]["id"] != first["id"]
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, cid): 2}      # the duplicate send the reconciler must avoid
    assert [(e["id"], e["status"]) for e in enrollments(http)] == [(first["id"], "paused"),
                                                                   (second.json()["enrollment"]["id"], "active")]


def test_posting_after_completion_or_cancel_also_enrolls_again(hub, http):
    done, gone = new_contact(http, "done@example.com"), new_contact(http, "gone@example.com")
    enroll(http, done)
    enroll(http, gone)
    hub.event("garyclub", "cancel", contact="gone@example.com")
    sim(hub).clock.advance(2 * 86400)
    assert {e["status"] for e in enrollments(http)} == {"completed", "cancelled"}
    assert enroll(http, done).status_code == 201 and enroll(http, gone).status_code == 201
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, done): 2, ("garyclub", SEQ, gone): 2}


def test_reply_auto_pauses_active_enrollments_only(hub, http):
    cid = new_contact(http, "ann@example.com")
    enroll(http, cid)
    enroll(http, cid, seq="seq_EXAMPLE_bbbb")
    other = new_contact(http, "bob@example.com")
    enroll(http, other)
    assert hub.event("garyclub", "reply", contact="ANN@example.com") == "ANN@example.com replied: 2 enrollments paused (reply_received)"
    (row,) = enrollments(http, status="paused")
    assert (row["contact_id"], row["paused_reason"], row["next_run_at"]) == (cid, "reply_received", None)
    assert [e["contact_id"] for e in enrollments(http, status="active")] == [other]
    sim(hub).clock.advance(3 * 86400)       # nothing more fires for a paused row
    assert enrollments(http, status="paused")[0]["current_step"] == 0
    paused = [e for e in sim(hub).coll("webhook_events").values() if e["type"] == "sequence.enrollment.paused"]
    assert len(paused) == 2 and paused[0]["data"]["reason"] == "reply_received"
    assert hub.event("garyclub", "reply", contact=cid) == f"{cid} replied: 0 enrollments paused (reply_received)"


def test_steps_fire_on_the_simulated_clock_until_completed(hub, http):
    clock = sim(hub).clock
    clock.advance(90 - clock.now() % 60)  # half a minute past a cron tick
    cid = new_contact(http, "ann@example.com")
    enr = enroll(http, cid).json()["enrollment"]
    start = parse_iso(enr["enrolled_at"])
    tick = (start // 60 + 1) * 60  # the first step runs on the next cron tick, whatever its wait_minutes
    assert parse_iso(enr["next_run_at"]) == pytest.approx(start, abs=0.01)
    clock.advance(tick - start - 1)
    assert enrollments(http)[0]["current_step"] == 0
    clock.advance(2)
    row = enrollments(http)[0]
    assert (row["current_step"], row["status"]) == (1, "active")
    assert parse_iso(row["next_run_at"]) == pytest.approx(tick + 1440 * 60, abs=0.01)  # step 2: wait_minutes 1440
    clock.advance(1440 * 60)
    row = enrollments(http, status="completed")[0]
    assert (row["current_step"], row["next_run_at"]) == (2, None)
    assert parse_iso(row["completed_at"]) == pytest.approx(tick + 1440 * 60, abs=0.01)
    assert [e["type"] for e in sim(hub).coll("webhook_events").values()].count("sequence.enrollment.completed") == 1


def test_enrollment_errors(http):
    cid = new_contact(http, "ann@example.com")
    assert enroll(http, cid, seq="seq_nope").status_code == 404
    draft = enroll(http, cid, seq="seq_EXAMPLE_cccc")
    assert draft.status_code == 422 and draft.json()["error"] == "unprocessable"
    missing = http.post(f"/sequences/{SEQ}/enrollments", json={})
    assert missing.status_code == 400 and missing.json()["details"] == {"field": "contact_id"}
    assert enroll(http, "con_nope").json()["error"] == "not_found"
    assert enroll(http, cid, metadata="x").json()["details"] == {"field": "metadata"}
    bad = http.get(f"/sequences/{SEQ}/enrollments", params={"status": "done"})
    assert bad.status_code == 400 and bad.json()["details"] == {"field": "status"}


def test_enrollment_list_cursor_and_status_filter():
    hub = make_hub(example_seed(bulk={"contacts": 450, "enrollments": [
        {"sequence": SEQ, "count": 300}, {"sequence": SEQ, "count": 150, "offset": 300, "status": "paused",
                                         "paused_reason": "reply_received"}]}))
    with client(hub) as http:
        ids, token = [], None
        while True:
            body = http.get(f"/sequences/{SEQ}/enrollments",
                            params={"status": "paused", "limit": 100, **({"page_token": token} if token else {})}).json()
            assert body["total"] == 150
            ids += [e["id"] for e in body["data"]]
            token = body["next_page_token"]
            if token is None:
                break
        assert ids == [f"enr_bulk_{i:07d}" for i in range(301, 451)]
        assert http.get(f"/sequences/{SEQ}/enrollments", params={"status": "active"}).json()["total"] == 300
        # A seeded paused enrollment is a past send: enrolling again is the trap, and shows as a second send.
        assert enroll(http, "con_bulk_000301").status_code == 201
    assert hub.store.sends("garyclub")[("garyclub", SEQ, "con_bulk_000301")] == 2
    assert len(hub.store.sends("garyclub")) == 450
    hub.store.close()


def test_events_pause_cancel_and_deals(hub, http):
    cid = new_contact(http, "ann@example.com")
    enroll(http, cid)
    enroll(http, cid, seq="seq_EXAMPLE_bbbb")
    assert hub.event("garyclub", "pause", contact=cid, sequence="Webinar follow-up") == f"{cid}: 1 enrollment paused (manual)"
    assert hub.event("garyclub", "cancel", contact="ann@example.com", sequence=SEQ) == "ann@example.com: 1 enrollment cancelled"
    assert enrollments(http, seq="seq_EXAMPLE_bbbb")[0]["paused_reason"] == "manual"
    assert enrollments(http)[0]["status"] == "cancelled"
    with pytest.raises(LookupError):
        hub.event("garyclub", "reply", contact="nobody@example.com")

    deal = http.post("/crm/deals", json={"name": "Acme", "primary_contact_id": cid}).json()["deal"]
    assert hub.event("garyclub", "move_deal", deal_id=deal["id"], stage="won") == f"deal {deal['id']} moved from New to Won"
    assert hub.event("garyclub", "move_deal", deal_id=deal["id"], stage="gst_contacted").endswith("from Won to Contacted")
    assert hub.event("garyclub", "edit_deal", deal_id=deal["id"], title="Acme Spain", tags=["vip"]) == \
        f"deal {deal['id']} edited: name, tags"
    got = {d["id"]: d for d in http.get("/crm/deals").json()["data"]}[deal["id"]]
    assert (got["name"], got["tags"], got["stage_id"]) == ("Acme Spain", ["vip"], "gst_contacted")
    with pytest.raises(ValueError, match="no stage 'Lost'"):
        hub.event("garyclub", "move_deal", deal_id=deal["id"], stage="Lost")
    with pytest.raises(ValueError, match="Unknown field: color"):
        hub.event("garyclub", "edit_deal", deal_id=deal["id"], color="red")
    with pytest.raises(LookupError):
        hub.event("garyclub", "move_deal", deal_id="deal_nope", stage="Won")


def test_state_survives_a_new_process(tmp_path):
    path = tmp_path / "sandbox.db"
    hub = make_hub(path=path)
    with client(hub) as http:
        cid = new_contact(http, "ann@example.com")
        first = enroll(http, cid).json()["enrollment"]
    hub.store.close()

    hub = make_hub(path=path)       # a fresh simulator: indexes and the step queue rebuilt from the store
    with client(hub) as http:
        again = http.post("/crm/contacts", json={"email": "ann@example.com"})
        assert again.json()["created"] is False and again.json()["contact"]["id"] == cid
        assert enroll(http, cid).json() == {"enrollment": first, "idempotent": True}
        sim(hub).clock.advance(61 * 60)
        assert enrollments(http)[0]["current_step"] == 1
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, cid): 1}
    hub.store.close()


def test_seeded_contacts_enrollments_and_deals():
    hub = make_hub(example_seed(
        contacts=[{"email": "maria@example.com", "phone": "+34911234567", "first_name": "Maria"}],
        enrollments=[{"sequence": SEQ, "contact": "maria@example.com", "status": "paused", "paused_reason": "reply_received"}],
        deals=[{"name": "Maria deal", "stage": "Contacted", "contact": "+34911234567"}],
        bulk={"contacts": 20, "deals": [{"pipeline": "gp_sales", "stage": "Won", "count": 5}]}))
    with client(hub) as http:
        (row,) = enrollments(http)
        assert (row["status"], row["paused_reason"]) == ("paused", "reply_received")
        deals = http.get("/crm/deals").json()
        assert deals["total"] == 6 and deals["data"][0]["stage_id"] == "gst_contacted"
        assert http.get("/crm/deals", params={"stage_id": "gst_won"}).json()["total"] == 5
        assert http.get("/crm/contacts").json()["total"] == 21
    hub.store.close()
