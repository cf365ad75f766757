"""Kalent's documented contract, which the sandbox must keep (over a real loopback `sandbox serve`).

Written from Kalent's documentation (docs.kalent.ai: Start sequence blueprint, Authentication, the
list, blueprint and candidate-status pages), not from the simulator: each test quotes what it
holds the sandbox to. A simulator change that drifts from the documentation fails here.
"""

from __future__ import annotations

import pytest

from tests.sandbox._kalent import INVITE, MAIL, Kalent, make
from tests.sandbox.loopback import LOOPBACK

DISPLAY_STATUSES = {"SCHEDULED", "ACTION_REQUIRED", "ERROR", "TALENT_REPLIED", "WAITING_FOR_ACCEPTANCE",
                    "COMPLETED", "PAUSED"}


@pytest.fixture
def kalent():
    k = make(mode=LOOPBACK)
    yield k
    k.close()


def _error(resp, status: int, code: str) -> dict:
    """Authentication: `{"success":false,"error":{"code":"…","message":"…","debugTrackingCode":"…",
    "details":{…}}}`."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"success", "error"} and body["success"] is False, body
    assert {"code", "message", "debugTrackingCode"} <= set(body["error"]) <= {"code", "message", "debugTrackingCode",
                                                                              "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def _start(kalent: Kalent, blueprint_id: str, body) -> object:
    return kalent.http.post(f"/sequence-blueprints/{blueprint_id}/start", json=body)


# -- authentication ----------------------------------------------------------------------------------
def test_the_key_goes_in_x_api_key() -> None:
    """Start: `--header 'x-api-key: <api-key>'`. Authentication: missing_api_key 401, invalid_api_key
    401."""
    k = make({"api_keys": ["kalent_good"]}, mode=LOOPBACK)
    try:
        _error(k.http.get("/sourcings", headers={"x-api-key": ""}), 401, "missing_api_key")
        _error(k.http.get("/sourcings", headers={"x-api-key": "kalent_bad"}), 401, "invalid_api_key")
        assert k.http.get("/sourcings", headers={"x-api-key": "kalent_good"}).json()["success"] is True
    finally:
        k.close()


# -- start (the seed page) ----------------------------------------------------------------------------
def test_start_answers_started_blueprint_id_and_candidate_count(kalent: Kalent) -> None:
    """Start: "When success is true, data contains: started — whether the workflow was dispatched;
    blueprintId — started blueprint id; candidateCount — number of candidates requested"."""
    bid = kalent.blueprint([INVITE, MAIL])
    resp = _start(kalent, bid, {"candidateIds": ["cand_123", "cand_456"]})
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "data": {"started": True, "blueprintId": bid, "candidateCount": 2}}
    assert set(kalent.hub.store.sends("kalent")) == {("kalent", bid, "cand_123"), ("kalent", bid, "cand_456")}


@pytest.mark.parametrize("body", [{}, {"candidateIds": []}, {"candidateIds": "cand_123"}])
def test_start_needs_at_least_one_candidate_id(kalent: Kalent, body) -> None:
    """Start: "candidateIds array required — Candidate ids to enroll in the sequence. The array must
    contain at least one id."; errors: validation_error 400."""
    bid = kalent.blueprint([INVITE, MAIL])
    _error(_start(kalent, bid, body), 400, "validation_error")
    assert kalent.hub.store.sends("kalent") == {}


def test_start_prerequisites(kalent: Kalent) -> None:
    """Start prerequisites: "The blueprint must have at least one valid step"; "Every candidateId must
    belong to the same sourcing as the blueprint"; errors: not_found 404."""
    empty = kalent.blueprint([], name="Empty")
    _error(_start(kalent, empty, {"candidateIds": ["cand_123"]}), 400, "validation_error")
    bid = kalent.blueprint([INVITE, MAIL])
    _error(_start(kalent, bid, {"candidateIds": ["cand_900"]}), 400, "validation_error")  # src_frontend's
    _error(_start(kalent, bid, {"candidateIds": ["cand_nope"]}), 404, "not_found")
    _error(_start(kalent, "bp_nope", {"candidateIds": ["cand_123"]}), 404, "not_found")
    assert kalent.hub.store.sends("kalent") == {}


@pytest.mark.parametrize(("step", "code"), [
    ({**MAIL, "id": "wa", "type": "WHATSAPP", "subject": None}, "whatsapp_not_connected_or_syncing"),
    (INVITE, "linkedin_not_connected_or_syncing"),
    (MAIL, "email_not_connected_or_syncing"),
])
def test_a_missing_outreach_account_is_forbidden_with_its_provider(step, code) -> None:
    """Start: "For forbidden errors caused by missing or disconnected outreach accounts,
    error.details.code indicates the blocked provider, such as linkedin_not_connected_or_syncing,
    whatsapp_not_connected_or_syncing, or email_not_connected_or_syncing"."""
    step = {k: v for k, v in step.items() if v is not None}
    k = make({"connected_channels": []}, mode=LOOPBACK)
    try:
        err = _error(_start(k, k.blueprint([step]), {"candidateIds": ["cand_123"]}), 403, "forbidden")
        assert err["details"]["code"] == code
        assert k.hub.store.sends("kalent") == {}
    finally:
        k.close()


def test_plan_upgrade_required_has_the_documented_details() -> None:
    """Start: "When the workspace plan does not include outreach integrations, the API returns
    plan_upgrade_required" (402) with details code subscription_or_plan_upgrade_required, action
    subscribe_or_upgrade, capability use_outreach_integrations, billingUrl."""
    k = make({"plan_upgrade_required": True}, mode=LOOPBACK)
    try:
        err = _error(_start(k, k.blueprint([INVITE, MAIL]), {"candidateIds": ["cand_123"]}), 402,
                     "plan_upgrade_required")
        assert err["details"] == {"code": "subscription_or_plan_upgrade_required", "action": "subscribe_or_upgrade",
                                  "capability": "use_outreach_integrations",
                                  "billingUrl": "https://app.kalent.ai/settings/billing"}
    finally:
        k.close()


def test_temporal_unavailable_is_a_503() -> None:
    """Start errors: "temporal_unavailable 503"."""
    k = make({"temporal_unavailable": True}, mode=LOOPBACK)
    try:
        _error(_start(k, k.blueprint([INVITE, MAIL]), {"candidateIds": ["cand_123"]}), 503, "temporal_unavailable")
        assert k.hub.store.sends("kalent") == {}
    finally:
        k.close()


def test_progress_is_polled_per_candidate(kalent: Kalent) -> None:
    """Start: "Poll progress with Get candidate dynamic sequence status using each candidateId": data
    `candidateId, talentId, sourcingId, sequence` (null if none), the sequence with `sequenceId, name,
    rawStatus, displayStatus` among SCHEDULED, ACTION_REQUIRED, ERROR, TALENT_REPLIED,
    WAITING_FOR_ACCEPTANCE, COMPLETED, PAUSED."""
    assert kalent.data("/candidates/cand_123/dynamic-sequence")["sequence"] is None
    bid = kalent.blueprint([INVITE, MAIL])
    _start(kalent, bid, {"candidateIds": ["cand_123"]})
    data = kalent.data("/candidates/cand_123/dynamic-sequence")
    assert {"candidateId", "talentId", "sourcingId", "sequence"} <= set(data) and data["candidateId"] == "cand_123"
    assert {"sequenceId", "name", "rawStatus", "displayStatus"} <= set(data["sequence"])
    assert data["sequence"]["displayStatus"] in DISPLAY_STATUSES
    _error(kalent.get("/candidates/cand_nope/dynamic-sequence"), 404, "not_found")


# -- lists and blueprints ------------------------------------------------------------------------------
def test_sourcings_page_from_zero() -> None:
    """List sourcings: `page` (0-based, default 0), `pageSize` (default 8, max 50); `data.sourcings`
    of {sourcingId, name} and `data.pagination: {page, pageSize, total, hasNextPage}`."""
    k = make(mode=LOOPBACK)
    try:
        data = k.data("/sourcings")
        assert data["pagination"] == {"page": 0, "pageSize": 8, "total": 2, "hasNextPage": False}
        assert all(set(s) == {"sourcingId", "name"} for s in data["sourcings"])
        first = k.data("/sourcings", page=0, pageSize=1)
        assert first["pagination"]["hasNextPage"] is True and len(first["sourcings"]) == 1
        _error(k.get("/sourcings", pageSize=51), 400, "validation_error")
    finally:
        k.close()


def test_candidates_page_with_page_index() -> None:
    """List candidates: "pageIndex (0-based) and pageSize (default 25, max 50). The name is pageIndex here
    and page elsewhere"; items `{candidate: {id, statusHandle, createdAt, sourcingId, talentId}, talent:
    {id, firstname, lastname, jobTitle, city, linkedinUrl}}`; "When omitted, all statuses except
    NOT_RETAINED are returned"."""
    k = make(bulk=60, mode=LOOPBACK)
    try:
        ids = []
        for page in range(3):
            data = k.data("/sourcings/src_backend/candidates", pageIndex=page, pageSize=50)
            ids += [item["candidate"]["id"] for item in data["candidates"]]
            assert data["pagination"]["pageIndex"] == page
            if not data["pagination"]["hasNextPage"]:
                break
        assert len(ids) == len(set(ids)) == 64
        item = data["candidates"][0]
        assert set(item["candidate"]) == {"id", "statusHandle", "createdAt", "sourcingId", "talentId"}
        assert set(item["talent"]) == {"id", "firstname", "lastname", "jobTitle", "city", "linkedinUrl"}
        k.event("set_status", candidate="cand_123", status="NOT_RETAINED")
        default = k.data("/sourcings/src_backend/candidates", pageSize=50)["pagination"]["total"]
        retained = k.data("/sourcings/src_backend/candidates", statusHandle="NOT_RETAINED")["candidates"]
        assert default == 63 and [item["candidate"]["id"] for item in retained] == ["cand_123"]
    finally:
        k.close()


def test_blueprints_create_list_and_replace_steps(kalent: Kalent) -> None:
    """Create blueprint: body `{name (required), steps?, config?}`; list items `blueprintId, name,
    sourcingId, createdAt, updatedAt, steps, stepCount, channels`; PATCH "Sending steps replaces the whole
    step list"; a plain LINKEDIN_INVITATION's content "is accepted but stored as \"\""."""
    invite = {**INVITE, "linkedInType": "LINKEDIN_INVITATION", "content": "dropped"}
    bid = kalent.blueprint([invite, MAIL])
    listed = kalent.data("/sourcings/src_backend/sequence-blueprints")
    assert listed["pagination"] == {"page": 0, "pageSize": 20, "total": 1, "hasNextPage": False}
    bp = listed["blueprints"][0]
    assert set(bp) == {"blueprintId", "name", "sourcingId", "createdAt", "updatedAt", "steps", "stepCount", "channels"}
    assert (bp["blueprintId"], bp["stepCount"], bp["channels"]) == (bid, 2, ["LINKEDIN", "EMAIL"])
    assert bp["steps"][0]["content"] == ""
    patched = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json={"steps": [MAIL]})
    assert patched.status_code == 200 and patched.json()["data"]["steps"] == [MAIL]
    _error(kalent.http.post("/sourcings/src_backend/sequence-blueprints", json={"steps": []}), 400, "validation_error")
    _error(kalent.request("PATCH", "/sequence-blueprints/bp_nope", json={"name": "x"}), 404, "not_found")
