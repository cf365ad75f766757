"""Kalent simulator: the seed document's examples, auth, envelope, pagination and rate limits."""

from __future__ import annotations

import time

import pytest

from tests.sandbox._kalent import INVITE, MAIL, KEY, Kalent, make, shipped_seed
from tests.sandbox.loopback import INPROCESS, over_both_transports


@pytest.fixture
def kalent(request):
    k = make(mode=getattr(request, "param", INPROCESS))
    yield k
    k.close()


@over_both_transports("kalent")
def test_documented_start_example_answers_started_blueprint_and_count(kalent: Kalent) -> None:
    bp = kalent.blueprint([INVITE, MAIL])
    # The seed's curl example: POST .../sequence-blueprints/{id}/start with x-api-key and candidateIds.
    resp = kalent.http.post(f"https://app.kalent.ai/api/v1/sequence-blueprints/{bp}/start",
                            headers={"Content-Type": "application/json", "x-api-key": KEY},
                            content=b'{"candidateIds":["cand_123"]}')
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "data": {"started": True, "blueprintId": bp, "candidateCount": 1}}


@over_both_transports()
def test_documented_plan_upgrade_body(mode: str) -> None:
    k = make({"plan_upgrade_required": True}, mode=mode)
    try:
        resp = k.start(k.blueprint([INVITE]), ["cand_123"])
        assert resp.status_code == 402
        error = resp.json()["error"]
        assert resp.json()["success"] is False
        assert error["code"] == "plan_upgrade_required"
        assert error["message"] == ("A Kalent subscription or plan upgrade is required to use outreach integrations. "
                                    "Please subscribe or upgrade your plan in Kalent billing: https://app.kalent.ai/settings/billing")
        assert error["details"] == {"code": "subscription_or_plan_upgrade_required", "action": "subscribe_or_upgrade",
                                    "capability": "use_outreach_integrations",
                                    "billingUrl": "https://app.kalent.ai/settings/billing"}
        assert error["debugTrackingCode"] == resp.headers["x-request-id"]
        assert k.store.sends("kalent") == {}
    finally:
        k.close()


@over_both_transports()
def test_documented_forbidden_body_names_the_blocked_provider(mode: str) -> None:
    k = make(connected_channels=["email"], mode=mode)
    try:
        resp = k.start(k.blueprint([INVITE, MAIL]), ["cand_123"])
        assert resp.status_code == 403
        assert resp.json()["success"] is False
        error = resp.json()["error"]
        assert (error["code"], error["message"], error["details"]) == (
            "forbidden", "LinkedIn account is not connected or not synced", {"code": "linkedin_not_connected_or_syncing"})
        assert error["debugTrackingCode"].startswith("req_")
    finally:
        k.close()


@pytest.mark.parametrize(("config", "body", "status", "code"), [
    ({}, {"candidateIds": []}, 400, "validation_error"),
    ({}, {"candidateIds": ["cand_nope"]}, 404, "not_found"),
    ({"connected_channels": []}, {"candidateIds": ["cand_123"]}, 403, "forbidden"),
    ({"plan_upgrade_required": True}, {"candidateIds": ["cand_123"]}, 402, "plan_upgrade_required"),
    ({"temporal_unavailable": True}, {"candidateIds": ["cand_123"]}, 503, "temporal_unavailable"),
], ids=["validation_error", "not_found", "forbidden", "plan_upgrade_required", "temporal_unavailable"])
@over_both_transports()
def test_documented_start_error_table(config: dict, body: dict, status: int, code: str, mode: str) -> None:
    k = make(config, mode=mode)
    try:
        resp = k.http.post(f"/sequence-blueprints/{k.blueprint([INVITE, MAIL])}/start", json=body)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
        assert k.store.sends("kalent") == {}
    finally:
        k.close()


def test_start_on_unknown_blueprint_is_not_found(kalent: Kalent) -> None:
    resp = kalent.start("bp_missing", ["cand_123"])
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found")


def test_missing_key_is_401_missing_api_key(kalent: Kalent) -> None:
    resp = kalent.http.get("/sourcings", headers={"x-api-key": ""})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "missing_api_key"
    assert resp.headers["x-request-id"]


def test_configured_keys_reject_others_and_bearer_is_accepted() -> None:
    k = make({"api_keys": ["good_key"]})
    try:
        bad = k.http.get("/sourcings", headers={"x-api-key": "wrong"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (401, "invalid_api_key")
        assert "wrong" not in bad.text
        assert k.http.get("/sourcings", headers={"x-api-key": "good_key"}).status_code == 200
        bearer = k.http.get("/sourcings", headers={"x-api-key": "", "Authorization": "Bearer good_key"})
        assert bearer.status_code == 200
    finally:
        k.close()


def test_every_response_has_a_request_id_and_errors_echo_it(kalent: Kalent) -> None:
    ok = kalent.get("/sourcings")
    missing = kalent.get("/nowhere")
    wrong_method = kalent.request("DELETE", "/sourcings")
    ids = {ok.headers["x-request-id"], missing.headers["x-request-id"], wrong_method.headers["x-request-id"]}
    assert len(ids) == 3
    assert missing.status_code == 404 and missing.json()["error"]["debugTrackingCode"] == missing.headers["x-request-id"]
    assert wrong_method.status_code == 404  # no 405 is documented


def test_malformed_json_is_a_validation_error(kalent: Kalent) -> None:
    resp = kalent.http.post("/sourcings/src_backend/sequence-blueprints", content=b"{nope")
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "validation_error")


def test_sourcings_list_shape_defaults_and_filters(kalent: Kalent) -> None:
    data = kalent.data("/sourcings")
    assert data == {"sourcings": [{"sourcingId": "src_backend", "name": "Senior Backend Engineer"},
                                  {"sourcingId": "src_frontend", "name": "Frontend Lead"}],
                    "pagination": {"page": 0, "pageSize": 8, "total": 2, "hasNextPage": False}}
    assert kalent.data("/sourcings", status="closed")["sourcings"] == []
    page = kalent.data("/sourcings", page=1, pageSize=1)
    assert page["sourcings"] == [{"sourcingId": "src_frontend", "name": "Frontend Lead"}]
    assert page["pagination"] == {"page": 1, "pageSize": 1, "total": 2, "hasNextPage": False}
    assert kalent.get("/sourcings", ownership="theirs").status_code == 400


def test_candidate_items_have_the_documented_shape(kalent: Kalent) -> None:
    data = kalent.data("/sourcings/src_backend/candidates")
    assert [i["candidate"]["id"] for i in data["candidates"]] == ["cand_123", "cand_456", "cand_789", "cand_790"]
    ana = data["candidates"][0]
    assert set(ana["candidate"]) == {"id", "statusHandle", "createdAt", "sourcingId", "talentId"}
    assert set(ana["talent"]) == {"id", "firstname", "lastname", "jobTitle", "city", "linkedinUrl"}
    assert (ana["talent"]["firstname"], ana["talent"]["lastname"]) == ("Ana", "Souza")
    assert ana["candidate"]["statusHandle"] == "TO_BE_CONTACTED"
    assert data["pagination"] == {"pageIndex": 0, "pageSize": 25, "total": 4, "hasNextPage": False}
    assert data["candidates"][1]["talent"]["lastname"] == "Becker"
    assert [i["candidate"]["id"] for i in kalent.data("/sourcings/src_frontend/candidates")["candidates"]] == ["cand_900"]
    assert kalent.get("/candidates/cand_nope/dynamic-sequence").status_code == 404


@pytest.mark.parametrize(("path", "params"), [
    ("/sourcings/src_backend/candidates", {"pageSize": 51}),
    ("/sourcings/src_backend/candidates", {"pageSize": 0}),
    ("/sourcings/src_backend/candidates", {"pageIndex": -1}),
    ("/sourcings", {"pageSize": 51}),
    ("/sourcings", {"page": "x"}),
    ("/sourcings/src_backend/sequence-blueprints", {"pageSize": 500}),
])
def test_out_of_range_paging_is_a_validation_error(kalent: Kalent, path: str, params: dict) -> None:
    resp = kalent.get(path, **params)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "validation_error"
    assert resp.json()["error"]["details"]["issues"][0]["path"] in params


def test_paging_through_120_candidates_with_page_index() -> None:
    k = make(bulk=116)  # 4 seeded + 116 bulk
    try:
        seen, sizes, flags, index = [], [], [], 0
        while True:
            data = k.data("/sourcings/src_backend/candidates", pageIndex=index, pageSize=50)
            seen += [i["candidate"]["id"] for i in data["candidates"]]
            sizes.append(len(data["candidates"]))
            flags.append(data["pagination"]["hasNextPage"])
            assert data["pagination"]["total"] == 120 and data["pagination"]["pageIndex"] == index
            if not data["pagination"]["hasNextPage"]:
                break
            index += 1
        assert (sizes, flags) == ([50, 50, 20], [True, True, False])
        assert len(set(seen)) == 120 and seen[:4] == ["cand_123", "cand_456", "cand_789", "cand_790"]
        assert seen[-1] == "cand_bulk_00116"
        assert k.data("/sourcings/src_backend/candidates", pageIndex=9, pageSize=50)["candidates"] == []
    finally:
        k.close()


def test_not_retained_hidden_by_default_and_status_filter(kalent: Kalent) -> None:
    kalent.event("set_status", candidate="cand_789", status="NOT_RETAINED")
    ids = [i["candidate"]["id"] for i in kalent.data("/sourcings/src_backend/candidates")["candidates"]]
    assert "cand_789" not in ids and len(ids) == 3
    only = kalent.data("/sourcings/src_backend/candidates", statusHandle="NOT_RETAINED")["candidates"]
    assert [i["candidate"]["id"] for i in only] == ["cand_789"]
    desc = kalent.data("/sourcings/src_backend/candidates", sortField="name", sortOrder="desc")["candidates"]
    assert [i["talent"]["firstname"] for i in desc] == ["Tom", "Jonas", "Ana"]
    assert kalent.get("/sourcings/src_backend/candidates", sortField="shoeSize").status_code == 400


def test_rate_limit_429_with_retry_after_then_recovers() -> None:
    k = make({"rate_limits": {"requests_per_minute": 3}})
    try:
        assert [k.get("/sourcings").status_code for _ in range(3)] == [200, 200, 200]
        limited = k.get("/sourcings")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-request-id"] == limited.json()["error"]["debugTrackingCode"]
        other_key = k.http.get("/sourcings", headers={"x-api-key": "another_key"})
        assert other_key.status_code == 200  # the limit is per key
        k.clock.advance(int(limited.headers["retry-after"]) + 1)
        assert k.get("/sourcings").status_code == 200
    finally:
        k.close()


def test_rate_limit_off_when_disabled_and_default_is_60() -> None:
    off = make({"rate_limits": {"requests_per_minute": 1}}, rate_limits=False)
    default = make({"rate_limits": {}})
    try:
        assert {off.get("/sourcings").status_code for _ in range(5)} == {200}
        assert [default.get("/sourcings").status_code for _ in range(61)][-2:] == [200, 429]
    finally:
        off.close()
        default.close()


def test_shipped_seed_is_documented_and_dispatch_is_asynchronous() -> None:
    section = shipped_seed()
    assert section["connected_channels"] == ["linkedin", "email"] and section["blueprints"] == []
    k = Kalent(section)
    try:
        assert k.data("/sourcings/src_backend/sequence-blueprints")["blueprints"] == []
        bp = k.blueprint([INVITE])
        assert k.start(bp, ["cand_123"]).status_code == 200
        assert k.status("cand_123") is None  # dispatched, not visible yet (dispatch_delay: 1s)
        k.clock.advance(2)
        assert k.status("cand_123")["blueprintId"] == bp
    finally:
        k.close()


def test_bulk_seed_of_10k_candidates_is_fast() -> None:
    started = time.perf_counter()
    k = make(bulk=10_000)
    try:
        last = k.data("/sourcings/src_backend/candidates", pageIndex=200, pageSize=50)
        assert last["pagination"] == {"pageIndex": 200, "pageSize": 50, "total": 10_004, "hasNextPage": False}
        for index in range(0, 201, 25):
            k.data("/sourcings/src_backend/candidates", pageIndex=index, pageSize=50)
        assert time.perf_counter() - started < 10
    finally:
        k.close()
