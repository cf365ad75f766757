"""Gary Club simulator: documented examples, auth and tenancy, envelope, pagination, rate limit,
contacts upsert, pipelines and deals. Enrollments and events: test_garyclub_enrollments.py."""

from __future__ import annotations

import pytest

from reconciler.sandbox.faults import Fault, FaultPlan
from tests.sandbox.garyclub_helpers import CLIENT_ID, CLIENT_KEY, KEY, SEQ, client, example_seed, make_hub, new_contact, sim
from tests.sandbox.loopback import INPROCESS, over_both_transports


@pytest.fixture
def hub():
    h = make_hub()
    yield h
    h.store.close()


@pytest.fixture
def http(hub, request):
    with client(hub, mode=getattr(request, "param", INPROCESS)) as c:
        yield c


# -- the documented examples (seed 002), in process and over loopback ----------------------------
@over_both_transports("http")
def test_list_sequences_matches_the_documented_response(http):
    resp = http.get("/sequences")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"data", "next_page_token", "total"}
    assert body["next_page_token"] is None and body["total"] == 3
    row = body["data"][0]
    assert set(row) == {"id", "name", "description", "status", "steps", "created_at", "updated_at"}
    assert (row["id"], row["name"], row["status"]) == (SEQ, "Post-call nurture", "active")
    assert row["description"] == "Sent to leads after their first inbound call"
    assert [set(s) for s in row["steps"]] == [{"kind", "wait_minutes", "body"}] * 2
    assert [(s["kind"], s["wait_minutes"]) for s in row["steps"]] == [("sms", 60), ("sms", 1440)]
    assert row["created_at"] == "2026-04-12T17:21:01.000Z"


@over_both_transports("http")
def test_sequence_status_filter_and_single_read(http):
    assert [s["id"] for s in http.get("/sequences", params={"status": "active"}).json()["data"]] == [SEQ, "seq_EXAMPLE_bbbb"]
    assert [s["status"] for s in http.get("/sequences", params={"status": "draft"}).json()["data"]] == ["draft"]
    one = http.get(f"/sequences/{SEQ}")
    assert one.status_code == 200 and one.json()["sequence"]["steps"][1]["wait_minutes"] == 1440
    bad = http.get("/sequences", params={"status": "running"})
    assert bad.status_code == 400 and bad.json()["details"] == {"field": "status"}


@over_both_transports("http")
def test_documented_enroll_request_and_response(http):
    contact_id = new_contact(http, "lead@example.com", first_name="Lee")
    resp = http.post(f"/sequences/{SEQ}/enrollments",
                     json={"contact_id": contact_id, "metadata": {"source": "post_inbound_call"}})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"enrollment", "idempotent"} and body["idempotent"] is False
    enr = body["enrollment"]
    documented = {"id", "sequence_id", "contact_id", "current_step", "status", "next_run_at", "enrolled_at"}
    assert documented <= set(enr)
    assert (enr["sequence_id"], enr["contact_id"], enr["current_step"], enr["status"]) == (SEQ, contact_id, 0, "active")
    assert enr["metadata"] == {"source": "post_inbound_call"}
    assert enr["enrolled_at"].endswith("Z") and enr["next_run_at"] == enr["enrolled_at"]  # as in the example


@over_both_transports("http")
def test_enroll_curl_verbatim_then_replay_and_list_enrollments(hub, http):
    # The seed's curl, byte for byte; only the contact id is one this sandbox has (ids are generated).
    contact_id = new_contact(http, "caller@example.com")
    curl = dict(url=f"https://agency.gary.club/api/public/v1/sequences/{SEQ}/enrollments",
                headers={"Authorization": "Bearer gc_live_EXAMPLE_AbCdEfGhIj0123456789", "Content-Type": "application/json"},
                content=('{ "contact_id": "%s", "metadata": { "source": "post_inbound_call" } }' % contact_id).encode())
    first = http.post(**curl)
    assert first.status_code == 201 and first.json()["idempotent"] is False
    replay = http.post(**curl)   # "already actively enrolled": the existing row, idempotent: true
    assert replay.status_code == 200 and replay.json()["idempotent"] is True
    assert replay.json()["enrollment"]["id"] == first.json()["enrollment"]["id"]
    listed = http.get(f"/sequences/{SEQ}/enrollments", params={"status": "active", "limit": 50})
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"data", "next_page_token", "total"} and body["next_page_token"] is None
    assert [(e["id"], e["contact_id"], e["current_step"], e["status"]) for e in body["data"]] == [
        (first.json()["enrollment"]["id"], contact_id, 0, "active")]
    assert hub.store.sends("garyclub") == {("garyclub", SEQ, contact_id): 1}


@over_both_transports("http")
def test_documented_error_example_for_contact_without_email_or_phone(http):
    resp = http.post("/crm/contacts", json={"first_name": "Nobody"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "validation_error", "message": "Either email or phone is required", "details": {}}


# -- auth and tenancy ---------------------------------------------------------------------------
@pytest.mark.parametrize("headers, code", [
    ({}, "authentication_required"),
    ({"x-api-key": KEY}, "authentication_required"),          # the docs say Bearer, not x-api-key
    ({"Authorization": KEY}, "authentication_required"),      # no scheme
    ({"Authorization": "Bearer nope"}, "invalid_api_key"),
    ({"Authorization": "Bearer cl_live_not_a_known_client"}, "invalid_api_key"),
    ({"Authorization": "Bearer gc_live_sandbox_revoked"}, "revoked_api_key"),
    ({"Authorization": "Bearer gc_live_sandbox_expired"}, "expired_api_key"),
], ids=["missing", "x-api-key", "no-scheme", "bad-shape", "unknown-client-key", "revoked", "expired"])
def test_auth_errors(hub, headers, code):
    with client(hub, key=None, **headers) as c:
        resp = c.get("/sequences")
    assert resp.status_code == 401
    assert resp.json()["error"] == code and isinstance(resp.json()["message"], str)
    assert resp.headers["X-Request-Id"].startswith("req_")


def test_client_key_is_sealed_to_its_client(hub, http):
    agency_contact = new_contact(http, "agency@example.com")
    with client(hub, CLIENT_KEY) as c:
        assert c.get("/sequences").json()["total"] == 0           # the seed's sequences are agency-self
        assert c.get(f"/crm/contacts/{agency_contact}").status_code == 404
        client_contact = new_contact(c, "patient@example.com")
        pipes = c.get("/crm/pipelines").json()["data"]
        assert [p["name"] for p in pipes] == ["Sales"] and pipes[0]["id"] != "gp_sales"
        me = c.get("/me").json()
        assert me["key_type"] == "client" and me["client"]["id"] == CLIENT_ID
    with client(hub, CLIENT_KEY, **{"X-Gary-Client-Id": CLIENT_ID}) as c:
        resp = c.get("/sequences")
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    with client(hub, KEY, **{"X-Gary-Client-Id": CLIENT_ID}) as c:   # the agency acting as the client
        assert [r["id"] for r in c.get("/crm/contacts").json()["data"]] == [client_contact]
    with client(hub, KEY, **{"X-Gary-Client-Id": "00000000-0000-0000-0000-000000000000"}) as c:
        assert c.get("/crm/contacts").json()["error"] == "not_found"
    assert [r["id"] for r in http.get("/crm/contacts").json()["data"]] == [agency_contact]
    assert http.get("/me").json() == {"key_type": "agency", "org": {"id": "org_sandbox", "name": "Sandbox Agency"}, "client": None}


# -- envelope, request ids, pagination ----------------------------------------------------------
def test_every_response_has_a_request_id_even_injected_faults(hub, http):
    hub.faults = FaultPlan(script=[Fault("status", status=503)])
    responses = [http.get("/sequences"), http.get("/sequences"), http.get("/nope"), http.post("/sequences")]
    assert [r.status_code for r in responses] == [503, 200, 404, 404]  # no 405 is documented
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert len(set(ids)) == 4
    assert responses[2].json()["error"] == "not_found"


def test_malformed_json_is_invalid_request(http):
    resp = http.post("/crm/contacts", content=b"{nope", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


@pytest.mark.parametrize("params, field", [
    ({"limit": "201"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"page_token": "garbage"}, "page_token"), ({"email": "a@b.co"}, "email"),
])
def test_bad_list_parameters(http, params, field):
    resp = http.get("/crm/contacts", params=params)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request" and resp.json()["details"] == {"field": field}


def test_cursor_pagination_over_450_contacts():
    hub = make_hub(example_seed(bulk={"contacts": 450}))
    seen, tokens, sizes = [], [], []
    with client(hub) as http:
        params = {"limit": 200}
        while True:
            body = http.get("/crm/contacts", params=params).json()
            assert body["total"] == 450
            sizes.append(len(body["data"]))
            seen += [r["id"] for r in body["data"]]
            if body["next_page_token"] is None:
                break
            tokens.append(body["next_page_token"])
            params = {"limit": 200, "page_token": body["next_page_token"]}
        assert sizes == [200, 200, 50] and len(set(tokens)) == 2
        assert seen == [f"con_bulk_{i:06d}" for i in range(1, 451)]
        assert len(http.get("/crm/contacts").json()["data"]) == 50      # default limit
        exact = http.get("/crm/contacts", params={"limit": 50, "page_token": tokens[1]}).json()
        assert len(exact["data"]) == 50 and exact["next_page_token"] is None   # no token to an empty page
    hub.store.close()


def test_rate_limit_429_with_retry_after_and_no_ratelimit_headers():
    hub = make_hub(example_seed(config={"rate_limits": {"requests_per_minute": 3}}), rate_limits=True)
    with client(hub) as http:
        assert [http.get("/sequences").status_code for _ in range(3)] == [200, 200, 200]
        limited = http.get("/sequences")
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert not [h for h in limited.headers if h.lower().startswith("x-ratelimit")]
        with client(hub, "gc_live_another_agency_key") as other:   # per key
            assert other.get("/sequences").status_code == 200
        sim(hub).clock.advance(61)
        assert http.get("/sequences").status_code == 200
    hub.store.close()


def test_rate_limit_default_is_60_and_off_when_disabled():
    hub = make_hub(example_seed(config={}), rate_limits=True)
    with client(hub) as http:
        assert {http.get("/me").status_code for _ in range(60)} == {200}
        assert http.get("/me").status_code == 429
    off = make_hub(example_seed(config={"rate_limits": {"requests_per_minute": 1}}), rate_limits=False)
    with client(off) as http:
        assert {http.get("/me").status_code for _ in range(5)} == {200}


# -- contacts -------------------------------------------------------------------------------------
def test_contact_upsert_created_true_then_false_and_merges(http):
    first = http.post("/crm/contacts", json={"email": "Maria@Example.com", "first_name": "Maria", "company_name": "Acme"})
    assert first.status_code == 201 and first.json()["created"] is True
    row = first.json()["contact"]
    again = http.post("/crm/contacts", json={"email": "maria@example.com", "last_name": "García", "phone": "+34911234567"})
    assert again.status_code == 200 and again.json()["created"] is False
    merged = again.json()["contact"]
    assert merged["id"] == row["id"] and merged["first_name"] == "Maria" and merged["full_name"] == "Maria García"
    by_phone = http.post("/crm/contacts", json={"phone": "+34911234567", "title": "CEO"})
    assert by_phone.json()["created"] is False and by_phone.json()["contact"]["title"] == "CEO"
    colleague = http.post("/crm/contacts", json={"email": "pablo@example.com", "company_name": "Acme"}).json()["contact"]
    assert colleague["company_id"] == row["company_id"] is not None    # company resolved from the email domain
    assert http.get(f"/crm/companies/{row['company_id']}").json()["company"]["domain"] == "example.com"
    assert http.get("/crm/contacts").json()["total"] == 2
    listed = {c["id"]: c for c in http.get("/crm/contacts").json()["data"]}
    assert listed[row["id"]]["phone"] == "+34911234567"


@pytest.mark.parametrize("body, field", [
    ({"phone": "0611223344"}, "phone"), ({"email": "not-an-email"}, "email"),
    ({"email": "a@b.co", "tags": ["x"]}, "tags"), ({"email": 5}, "email"),
])
def test_contact_upsert_field_errors(http, body, field):
    resp = http.post("/crm/contacts", json=body)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request" and resp.json()["details"]["field"] == field


def test_contact_list_filters(http):
    new_contact(http, "ann@example.com", first_name="Ann", last_name="Lee")
    new_contact(http, "bob@example.com", first_name="Bob")
    assert [r["first_name"] for r in http.get("/crm/contacts", params={"q": "LEE"}).json()["data"]] == ["Ann"]
    assert http.get("/crm/contacts", params={"lifecycle": "lead"}).json()["total"] == 2
    assert http.get("/crm/contacts", params={"lifecycle": "qualified"}).json()["data"] == []
    assert http.get("/crm/contacts", params={"owner": "u_1"}).json()["total"] == 0


# -- pipelines and deals ------------------------------------------------------------------------
def test_pipelines_with_stages(http):
    body = http.get("/crm/pipelines").json()
    assert body["next_page_token"] is None
    (pipe,) = body["data"]
    assert (pipe["id"], pipe["name"], pipe["is_default"]) == ("gp_sales", "Sales", True)
    assert pipe["stages"] == [{"id": "gst_new", "name": "New", "position": 0},
                              {"id": "gst_contacted", "name": "Contacted", "position": 1},
                              {"id": "gst_won", "name": "Won", "position": 2}]


def test_deal_create_defaults_patch_and_filters(hub, http):
    cid = new_contact(http, "deal@example.com")
    created = http.post("/crm/deals", json={"name": "Acme – inbound", "primary_contact_id": cid, "tags": ["campaignctl"]})
    assert created.status_code == 201
    deal = created.json()["deal"]
    assert (deal["pipeline_id"], deal["stage_id"], deal["status"], deal["currency"]) == ("gp_sales", "gst_new", "open", "USD")
    other = http.post("/crm/deals", json={"name": "Other", "stage_id": "gst_won", "amount": 1200}).json()["deal"]
    assert http.post("/crm/deals", json={"amount": 5}).json()["details"] == {"field": "name"}
    assert http.post("/crm/deals", json={"name": "x", "stage_id": "gst_nope"}).json()["details"] == {"field": "stage_id"}
    assert http.post("/crm/deals", json={"name": "x", "primary_contact_id": "con_nope"}).status_code == 400

    patched = http.patch(f"/crm/deals/{deal['id']}", json={"stage_id": "gst_contacted", "name": "Renamed", "description": "d"})
    assert patched.status_code == 200
    assert {k: patched.json()["deal"][k] for k in ("stage_id", "name", "description")} == \
        {"stage_id": "gst_contacted", "name": "Renamed", "description": "d"}
    assert {d["id"]: d for d in http.get("/crm/deals").json()["data"]}[deal["id"]]["name"] == "Renamed"
    assert http.patch("/crm/deals/deal_nope", json={"name": "x"}).status_code == 404

    ids = lambda **p: [d["id"] for d in http.get("/crm/deals", params=p).json()["data"]]  # noqa: E731
    assert ids() == [deal["id"], other["id"]]
    assert ids(pipeline_id="gp_sales", stage_id="gst_won") == [other["id"]]
    assert ids(q="renamed") == [deal["id"]]
    assert ids(status="open") == [deal["id"], other["id"]] and ids(status="won") == []
    assert http.get("/crm/deals", params={"contact_id": cid}).status_code == 400  # not a documented filter

    events = [e for e in sim(hub).coll("webhook_events").values() if e["type"] == "deal.stage_changed"]
    assert [(e["data"]["prior_stage_id"], e["data"]["new_stage_id"]) for e in events] == [("gst_new", "gst_contacted")]
    assert isinstance(events[0]["created"], str)
