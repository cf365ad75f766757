"""Where the Gary Club simulator used to be kinder than Gary Club's documentation (issue 18).

Each test quotes the line of the vendor's documentation it follows; where the documentation is
silent, the simulator's docstrings list the strict choice the test holds it to.
"""

from __future__ import annotations

import pytest

from reconciler.sandbox.core import parse_iso
from tests.sandbox.garyclub_helpers import SEQ, client, make_hub, new_contact, sim


@pytest.fixture
def hub():
    h = make_hub()
    yield h
    h.store.close()


@pytest.fixture
def http(hub):
    with client(hub) as c:
        yield c


def _error(resp) -> str:
    body = resp.json()
    assert set(body) == {"error", "message", "details"} and isinstance(body["error"], str), body
    return body["error"]


def test_the_first_step_runs_on_the_next_cron_tick(hub, http):
    """Sequences: "The first step runs on the next cron tick (every minute)." The enroll example answers
    "next_run_at": "2026-04-28T01:30:00.000Z" with "enrolled_at": "2026-04-28T01:30:00.000Z"."""
    cid = new_contact(http, "tick@example.com")
    enr = http.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": cid}).json()["enrollment"]
    assert enr["next_run_at"] == enr["enrolled_at"]  # the sequence's first step has wait_minutes: 60
    start = parse_iso(enr["enrolled_at"])
    sim(hub).clock.advance(61)  # a cron tick has certainly passed, an hour certainly has not
    row = http.get(f"/sequences/{SEQ}/enrollments").json()["data"][0]
    assert (row["current_step"], row["status"]) == (1, "active")
    fired = (start // 60 + 1) * 60 if start % 60 else start  # the first whole minute at or after enrolling
    assert parse_iso(row["next_run_at"]) == pytest.approx(fired + 1440 * 60, abs=0.01)  # step 2: wait_minutes 1440


def test_a_page_token_only_continues_the_list_it_came_from(hub, http):
    """Contacts: "page_token is the opaque next_page_token from the prior page" — opaque, and of that
    list: a token replayed on another list or with other filters is refused (strict choice)."""
    for i in range(3):
        new_contact(http, f"page{i}@example.com", first_name="Pat")
    token = http.get("/crm/contacts", params={"limit": 1}).json()["next_page_token"]
    assert token and not token.isdigit()
    assert http.get("/crm/contacts", params={"limit": 1, "page_token": token}).status_code == 200
    assert http.get("/crm/contacts", params={"limit": 2, "page_token": token}).status_code == 200  # limit may change
    for path, params in (("/crm/contacts", {"q": "pat"}), ("/crm/deals", {}), ("/crm/companies", {}),
                         (f"/sequences/{SEQ}/enrollments", {}), ("/sequences", {})):
        resp = http.get(path, params={**params, "limit": 1, "page_token": token})
        assert resp.status_code == 400 and _error(resp) == "invalid_request", (path, params, resp.text)
        assert resp.json()["details"] == {"field": "page_token"}


def test_deal_create_refuses_an_undocumented_status(http):
    """Deals: POST /v1/crm/deals takes name (required), pipeline_id, stage_id, amount, currency,
    expected_close_date, primary_contact_id, company_id, owner_user_id, description, tags,
    custom_fields — no status; a new deal is open."""
    resp = http.post("/crm/deals", json={"name": "Won already", "status": "won"})
    assert resp.status_code == 400 and _error(resp) == "invalid_request"
    assert resp.json()["details"] == {"field": "status"}
    assert http.get("/crm/deals").json()["data"] == []


def test_an_empty_deal_patch_is_refused(http):
    """Deals: "PATCH /v1/crm/deals/{id} updates any subset" — an empty subset updates nothing and is
    refused (strict choice) instead of answering 200 to a no-op."""
    deal = http.post("/crm/deals", json={"name": "Acme"}).json()["deal"]
    resp = http.patch(f"/crm/deals/{deal['id']}", json={})
    assert resp.status_code == 400 and _error(resp) == "invalid_request"
    assert http.get("/crm/deals").json()["data"] == [deal]  # updated_at untouched


def test_no_undocumented_reads_by_id(http):
    """The docs list GET /v1/crm/deals and GET /v1/crm/contacts (lists), GET /v1/crm/companies/{id}
    and GET /v1/sequences/{id}; there is no GET of one deal or one contact."""
    cid = new_contact(http, "byid@example.com")
    deal = http.post("/crm/deals", json={"name": "Acme", "primary_contact_id": cid}).json()["deal"]
    for path in (f"/crm/contacts/{cid}", f"/crm/deals/{deal['id']}"):
        resp = http.get(path)
        assert resp.status_code == 404 and _error(resp) == "not_found", path
    assert http.get(f"/sequences/{SEQ}").status_code == 200
