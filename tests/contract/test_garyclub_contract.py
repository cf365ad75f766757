"""Gary Club's documented contract, which the sandbox must keep (over a real loopback `sandbox serve`).

Written from Gary Club's documentation (docs.gary.club: Sequences, Authentication, Errors,
Contacts, Deals), not from the simulator: each test quotes what it holds the sandbox to. A
simulator change that drifts from the documentation fails here.
"""

from __future__ import annotations

import pytest

from tests.sandbox.garyclub_helpers import CLIENT_ID, CLIENT_KEY, SEQ, client, make_hub, new_contact
from tests.sandbox.loopback import LOOPBACK

ENROLLMENT_FIELDS = {"id", "sequence_id", "contact_id", "current_step", "status", "next_run_at", "enrolled_at"}


@pytest.fixture
def hub():
    h = make_hub(rate_limits=True)
    yield h
    h.store.close()


@pytest.fixture
def http(hub):
    with client(hub, mode=LOOPBACK) as c:
        yield c


def _error(resp, status: int, code: str) -> dict:
    """Errors: `{"error":"validation_error","message":"...","details":{}}` — `error` is a string code
    "we promise not to rename"."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body["error"], str) and isinstance(body["message"], str) and "details" in body, body
    assert body["error"] == code, body
    return body


# -- authentication and tenancy --------------------------------------------------------------------
def test_auth_errors(hub) -> None:
    """Authentication: `Authorization: Bearer <key>` on every endpoint. Errors: authentication_required
    401 "missing or malformed header"; invalid_api_key 401 "unknown key or wrong shape";
    revoked_api_key 401; expired_api_key 401."""
    cases = ((None, "authentication_required"), ("nonsense", "invalid_api_key"),
             ("gc_live_sandbox_revoked", "revoked_api_key"), ("gc_live_sandbox_expired", "expired_api_key"))
    for key, code in cases:
        with client(hub, key, mode=LOOPBACK) as c:
            _error(c.get("/sequences"), 401, code)


def test_client_keys_are_sealed_to_their_client(hub, http) -> None:
    """Authentication: `cl_live_…` is a client key sealed to one client; "Sending cl_live_ together with
    X-Gary-Client-Id returns 400 invalid_request"; an agency key sends `X-Gary-Client-Id: <uuid>` to act
    as one client; not_found 404 "also cross-tenant (no existence leak)"."""
    agency_contact = new_contact(http, "agency@example.com")
    with client(hub, CLIENT_KEY, mode=LOOPBACK) as sealed:
        assert sealed.get("/crm/contacts").json()["data"] == []
        _error(sealed.get("/crm/contacts", headers={"X-Gary-Client-Id": CLIENT_ID}), 400, "invalid_request")
        _error(sealed.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": agency_contact}), 404, "not_found")
    with client(hub, mode=LOOPBACK, **{"X-Gary-Client-Id": CLIENT_ID}) as as_client:
        assert as_client.get("/crm/contacts").json()["data"] == []


# -- sequences ---------------------------------------------------------------------------------------
def test_sequences_list_shape(http) -> None:
    """Sequences: "limit integer default: 50, 1–200; page_token: Cursor from prior page; status: Filter —
    draft, active, paused, archived"; response `{"data": [{id, name, description, status, steps: [{kind,
    wait_minutes, body}], created_at, updated_at}], "next_page_token": null, "total": 1}`."""
    body = http.get("/sequences").json()
    assert set(body) == {"data", "next_page_token", "total"} and body["next_page_token"] is None
    row = next(s for s in body["data"] if s["id"] == SEQ)
    assert {"id", "name", "description", "status", "steps", "created_at", "updated_at"} <= set(row)
    assert all(set(step) == {"kind", "wait_minutes", "body"} for step in row["steps"])
    assert all(s["status"] == "draft" for s in http.get("/sequences", params={"status": "draft"}).json()["data"])
    for params in ({"limit": 0}, {"limit": 201}, {"status": "deleted"}):
        _error(http.get("/sequences", params=params), 400, "invalid_request")
    one = http.get("/sequences", params={"limit": 1}).json()
    assert len(one["data"]) == 1 and one["next_page_token"]
    rest = http.get("/sequences", params={"limit": 200, "page_token": one["next_page_token"]}).json()
    assert [s["id"] for s in one["data"] + rest["data"]] == [s["id"] for s in body["data"]]


def test_read_one_sequence(http) -> None:
    """Sequences: `GET /v1/sequences/{id}` "Single sequence with steps"."""
    resp = http.get(f"/sequences/{SEQ}")
    assert resp.status_code == 200 and f'"{SEQ}"' in resp.text and '"wait_minutes"' in resp.text
    _error(http.get("/sequences/seq_nope"), 404, "not_found")


def test_enroll_as_documented(hub, http) -> None:
    """Enroll: "Creates an active enrollment"; response `{"enrollment": {id, sequence_id, contact_id,
    current_step: 0, status: "active", next_run_at, enrolled_at}, "idempotent": false}`; "metadata ...
    Stored as-is on the enrollment row"; "The first step runs on the next cron tick (every minute)"."""
    cid = new_contact(http, "lead@example.com")
    body = http.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": cid, "metadata": {"source": "x"}}).json()
    assert set(body) == {"enrollment", "idempotent"} and body["idempotent"] is False
    enr = body["enrollment"]
    assert ENROLLMENT_FIELDS <= set(enr)
    assert (enr["sequence_id"], enr["contact_id"], enr["current_step"], enr["status"]) == (SEQ, cid, 0, "active")
    assert enr["next_run_at"] == enr["enrolled_at"]
    hub.simulators["garyclub"].clock.advance(60)
    listed = http.get(f"/sequences/{SEQ}/enrollments").json()["data"]
    assert listed[0]["current_step"] == 1 and listed[0]["metadata"] == {"source": "x"}
    _error(http.post(f"/sequences/{SEQ}/enrollments", json={}), 400, "invalid_request")
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, cid): 1}


def test_re_enrolling_an_active_contact_returns_the_existing_row(hub, http) -> None:
    """Sequences: "Idempotent — re-enrolling an active contact returns the existing row"; "If the contact
    is already actively enrolled in this sequence, the existing row is returned with idempotent: true"."""
    cid = new_contact(http, "again@example.com")
    first = http.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": cid}).json()
    again = http.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": cid}).json()
    assert again["idempotent"] is True and again["enrollment"]["id"] == first["enrollment"]["id"]
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, cid): 1}


def test_list_enrollments_and_auto_pause_on_reply(hub, http) -> None:
    """Enrollments list: "status: Filter — active, paused, completed, cancelled", `limit`, `page_token`.
    Auto-pause: "their enrollment is paused automatically (status=paused, paused_reason=reply_received)"."""
    ids = [new_contact(http, f"p{i}@example.com", phone=f"+1415555010{i}") for i in range(3)]
    for cid in ids:
        http.post(f"/sequences/{SEQ}/enrollments", json={"contact_id": cid})
    hub.event("garyclub", "reply", contact="+14155550101")
    paused = http.get(f"/sequences/{SEQ}/enrollments", params={"status": "paused"}).json()["data"]
    assert [(e["contact_id"], e["paused_reason"]) for e in paused] == [(ids[1], "reply_received")]
    page = http.get(f"/sequences/{SEQ}/enrollments", params={"limit": 2}).json()
    rest = http.get(f"/sequences/{SEQ}/enrollments", params={"limit": 2, "page_token": page["next_page_token"]}).json()
    assert [e["contact_id"] for e in page["data"] + rest["data"]] == ids and rest["next_page_token"] is None
    _error(http.get(f"/sequences/{SEQ}/enrollments", params={"status": "stopped"}), 400, "invalid_request")


# -- CRM -----------------------------------------------------------------------------------------------
def test_contact_upsert_by_email_or_phone(http) -> None:
    """Contacts: `POST /v1/crm/contacts` is an idempotent upsert by email or phone; "One of email or
    phone (E.164) is required"; an existing contact is merged "and the response carries created: false";
    errors page example: `{"error":"validation_error","message":"Either email or phone is required"}`."""
    made = http.post("/crm/contacts", json={"email": "ann@example.com", "first_name": "Ann"})
    merged = http.post("/crm/contacts", json={"email": "ANN@example.com", "phone": "+14155550123"})
    assert made.json()["created"] is True and merged.json()["created"] is False
    assert merged.json()["contact"]["id"] == made.json()["contact"]["id"]
    err = _error(http.post("/crm/contacts", json={"first_name": "Nobody"}), 400, "validation_error")
    assert err["message"] == "Either email or phone is required"
    _error(http.post("/crm/contacts", json={"phone": "415-555-0123"}), 400, "invalid_request")


def test_contact_list_is_a_cursor_list(http) -> None:
    """Contacts: "Cursor pagination: limit default 50, max 200; page_token is the opaque next_page_token
    from the prior page"."""
    for i in range(3):
        new_contact(http, f"c{i}@example.com")
    first = http.get("/crm/contacts", params={"limit": 2}).json()
    second = http.get("/crm/contacts", params={"limit": 2, "page_token": first["next_page_token"]}).json()
    assert len(first["data"]) == 2 and len(second["data"]) == 1 and second["next_page_token"] is None
    _error(http.get("/crm/contacts", params={"limit": 201}), 400, "invalid_request")


def test_deals_create_and_patch(hub, http) -> None:
    """Deals: `name` is required; "pipeline_id defaults to the default pipeline; stage_id defaults to its
    first stage"; currency "default USD"; `PATCH /v1/crm/deals/{id}` "updates any subset. A changed
    stage_id fires deal.stage_changed"."""
    _error(http.post("/crm/deals", json={"amount": 10}), 400, "invalid_request")
    deal = http.post("/crm/deals", json={"name": "Acme"}).json()["deal"]
    assert (deal["pipeline_id"], deal["stage_id"], deal["currency"]) == ("gp_sales", "gst_new", "USD")
    moved = http.patch(f"/crm/deals/{deal['id']}", json={"stage_id": "gst_won"})
    assert moved.status_code == 200 and moved.json()["deal"]["stage_id"] == "gst_won"
    events = [e for e in hub.simulators["garyclub"].coll("webhook_events").values()
              if e["type"] == "deal.stage_changed"]
    assert [(e["data"]["prior_stage_id"], e["data"]["new_stage_id"]) for e in events] == [("gst_new", "gst_won")]
    assert isinstance(events[0]["created"], str)  # webhooks: `created` is a string of Unix seconds
    _error(http.patch("/crm/deals/deal_nope", json={"name": "x"}), 404, "not_found")


def test_the_rate_limit_is_60_per_minute_per_key(hub) -> None:
    """API keys: "Default 60 req/min per key, sliding window"."""
    with client(hub, mode=LOOPBACK) as c:
        codes = [c.get("/sequences", params={"limit": 1}).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    hub.simulators["garyclub"].clock.advance(61)
    with client(hub, mode=LOOPBACK) as c:
        assert c.get("/sequences").status_code == 200
