"""Clarky's documented contract, which the sandbox must keep (over a real loopback `sandbox serve`).

Written from Clarky's documentation (docs.clarky.ai: Sequences API, Pipelines, Authentication,
Pagination, Rate limits, Errors), not from the simulator: each test quotes what it holds the
sandbox to. A simulator change that drifts from the documentation fails here.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.sandbox._clarky import MARIA_START, Clarky
from tests.sandbox.loopback import LOOPBACK


@pytest.fixture
def clarky():
    sandbox = Clarky(mode=LOOPBACK)
    yield sandbox
    sandbox.close()


def _error(resp, status: int, code: str) -> dict:
    """Errors page: `{"error":{"code":"...","message":"...","details":{...optional}}}`."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


# -- authentication ------------------------------------------------------------------------------
def test_a_bearer_ck_live_key_is_required(clarky: Clarky) -> None:
    """Authentication: `Authorization: Bearer ck_live_<random>`; "A missing or revoked key returns
    401 Unauthorized" (errors page: `unauthorized`)."""
    assert clarky.api.get("/pipelines").status_code == 200
    for headers in ({}, {"Authorization": "Basic ck_live_example"}, {"Authorization": "Bearer gc_live_example"}):
        client = clarky.client(None)
        _error(client.get("/pipelines", headers=headers), 401, "unauthorized")


def test_a_read_only_key_cannot_write() -> None:
    """Authentication: "A write call made with a read-only key gets 403 with code forbidden";
    read: "GET and HEAD on every endpoint"."""
    sandbox = Clarky({"config": {"keys": {"ck_live_readonly_key": ["read"]}}}, mode=LOOPBACK)
    try:
        ro = sandbox.client("ck_live_readonly_key")
        assert ro.get("/pipeline-cards").status_code == 200
        assert ro.head("/pipeline-cards/pc_01HCRD").status_code == 200
        _error(ro.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "x"}), 403, "forbidden")
        _error(ro.post("/sequences/start", json=MARIA_START), 403, "forbidden")
        assert sandbox.sends() == {}
    finally:
        sandbox.close()


# -- pagination ------------------------------------------------------------------------------------
def test_lists_page_with_page_and_page_size() -> None:
    """Pagination: `page` 1-indexed, default 1; `page_size` default 25, maximum 100; list response
    `{ "data": [...], "pagination": { "page", "page_size", "total", "total_pages" } }` with
    total_pages = ceil(total/page_size); more than 100 "returns validation_error (HTTP 422)"."""
    sandbox = Clarky({"bulk": {"contacts": 130}}, mode=LOOPBACK, rate_limits=False)
    try:
        first = sandbox.api.get("/contacts").json()
        total = first["pagination"]["total"]
        assert total >= 130 and len(first["data"]) == 25
        assert first["pagination"] == {"page": 1, "page_size": 25, "total": total, "total_pages": math.ceil(total / 25)}
        seen = []
        for page in range(1, math.ceil(total / 100) + 1):
            body = sandbox.api.get("/contacts", params={"page": page, "page_size": 100}).json()
            assert body["pagination"]["page"] == page
            seen += [c["id"] for c in body["data"]]
        assert len(seen) == len(set(seen)) == total
        _error(sandbox.api.get("/contacts", params={"page_size": 101}), 422, "validation_error")
    finally:
        sandbox.close()


def test_stages_are_not_paginated_and_sorted(clarky: Clarky) -> None:
    """Pipelines: "Returns every stage in the pipeline, sorted by order_index. Not paginated — the
    response shape is { "data": [...] } with no pagination object."""
    body = clarky.api.get("/pipelines/p_01HPLA/stages").json()
    assert set(body) == {"data"}
    assert [s["order_index"] for s in body["data"]] == sorted(s["order_index"] for s in body["data"])
    stage_fields = {"id", "bot_id", "pipeline_id", "name", "color", "order_index", "created_at", "updated_at"}
    assert set(body["data"][0]) == stage_fields


def test_a_single_resource_has_no_pagination(clarky: Clarky) -> None:
    """Pagination: "A single resource comes back as { "data": {...} } with no pagination object."""
    for path in ("/pipeline-cards/pc_01HCRD", "/contacts/c_01HXYZ"):
        body = clarky.api.get(path).json()
        assert set(body) == {"data"} and isinstance(body["data"], dict)


# -- rate limits -----------------------------------------------------------------------------------
def test_every_response_carries_the_rate_limit_headers() -> None:
    """Rate limits: "Reads (GET, HEAD): 120 req/min per key. Writes (POST, PATCH, DELETE): 60 req/min";
    "Every response, successful or limited, carries X-RateLimit-Limit, X-RateLimit-Remaining,
    X-RateLimit-Reset (Unix seconds)"; a 429 adds `Retry-After` (seconds) and code `rate_limited`."""
    sandbox = Clarky({"config": {"rate_limits": {"reads_per_minute": 3, "writes_per_minute": 60}}}, mode=LOOPBACK)
    try:
        answers = [sandbox.api.get("/pipelines") for _ in range(4)]
        answers += [sandbox.client(None).get("/pipelines"), sandbox.api.get("/nowhere")]
        for resp in answers:
            assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(resp.headers), resp
            assert time.time() - 1 <= int(resp.headers["x-ratelimit-reset"]) <= time.time() + 61
        assert [r.headers["x-ratelimit-remaining"] for r in answers[:4]] == ["2", "1", "0", "0"]
        limited = _error(answers[3], 429, "rate_limited")
        assert int(answers[3].headers["retry-after"]) >= 1 and "Retry after" in limited["message"]
        write = sandbox.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "x"})
        assert write.status_code == 201 and write.headers["x-ratelimit-limit"] == "60"
    finally:
        sandbox.close()


# -- errors ----------------------------------------------------------------------------------------
def test_documented_error_codes(clarky: Clarky) -> None:
    """Errors: not_found 404 "resource missing"; bad_request 400 "malformed JSON, unsupported parameter,
    missing Content-Type"; validation_error 422 "a field failed validation (details.field)"."""
    _error(clarky.api.get("/pipeline-cards/pc_nope"), 404, "not_found")
    _error(clarky.api.post("/pipeline-cards", content=b"{", headers={"content-type": "application/json"}),
           400, "bad_request")
    _error(clarky.api.post("/pipeline-cards", content=b'{"title": "x"}', headers={"content-type": "text/plain"}),
           400, "bad_request")
    _error(clarky.api.get("/pipeline-cards", params={"colour": "red"}), 400, "bad_request")
    err = _error(clarky.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "x",
                                                          "order_index": -1}), 422, "validation_error")
    assert err["details"]["field"] == "order_index"


# -- sequences -------------------------------------------------------------------------------------
def test_start_answers_202_with_the_documented_fields(clarky: Clarky) -> None:
    """Sequences API: `POST /api/v1/sequences/start` "responds with 202 Accepted"; response `data` has
    sequence_id, enrollment_id, contact_id, contact_action, auto_approve, status ("generating"),
    status_url ("/api/v1/sequences/enrollments/enr_...")."""
    resp = clarky.api.post("/sequences/start", json=MARIA_START)
    assert resp.status_code == 202
    data = resp.json()["data"]
    assert set(data) == {"sequence_id", "enrollment_id", "contact_id", "contact_action", "auto_approve", "status",
                         "status_url"}
    assert (data["status"], data["auto_approve"]) == ("generating", True)
    assert data["status_url"] == f"/api/v1/sequences/enrollments/{data['enrollment_id']}"
    assert clarky.api.get(data["status_url"].removeprefix("/api/v1")).status_code == 200


def test_an_idempotency_key_returns_the_original_ids(clarky: Clarky) -> None:
    """Sequences API: "Calling the endpoint a second time with the same key returns the original
    sequence_id and enrollment_id — no duplicate sequence is created."""
    first = clarky.start(MARIA_START)["data"]
    again = clarky.start(MARIA_START)["data"]
    assert (again["sequence_id"], again["enrollment_id"]) == (first["sequence_id"], first["enrollment_id"])
    assert sum(clarky.sends().values()) == 1


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"contact": {"emails": ["a@example.com"]}}, 400, "bad_request"),                        # no template_id
    ({"template_id": "tpl_01HABC"}, 400, "bad_request"),                                     # no contact
    ({"template_id": "tpl_01HNUR", "contact": {"emails": ["a@example.com"]}}, 400, "bad_request"),  # no bot_id
    ({"template_id": "tpl_nope", "contact": {"emails": ["a@example.com"]}}, 404, "not_found"),
    ({"template_id": "tpl_01HABC", "contact": {"first_name": "No channel"}}, 422, "validation_error"),
    ({"template_id": "tpl_01HNUR", "bot_id": "b_other", "contact": {"emails": ["a@example.com"]}}, 422,
     "validation_error"),
])
def test_start_errors(clarky: Clarky, body: dict, status: int, code: str) -> None:
    """Sequences API errors: "400 Missing required field, or template has no bot_id and none was
    provided"; "404 Template not found in this workspace"; "422 Validation error — e.g. contact has no
    email or phone, or bot_id is from a different workspace"."""
    _error(clarky.api.post("/sequences/start", json=body), status, code)
    assert clarky.sends() == {}


def test_enrollment_status_has_the_documented_shape(clarky: Clarky) -> None:
    """Get enrollment status: statuses generating, pending_approval, approved, running, stopped_reply,
    stopped_unsubscribed, stopped_user, completed, failed; the example response's fields."""
    eid = clarky.start(MARIA_START)["data"]["enrollment_id"]
    assert clarky.enrollment(eid)["status"] == "generating"
    clarky.advance(120)
    data = clarky.enrollment(eid)
    assert {"id", "sequence_id", "contact_id", "status", "generation_error", "approved_at", "stop_reason",
            "created_at", "updated_at", "sequence", "steps"} <= set(data)
    assert data["status"] == "approved"  # auto_approve: "step 1's scheduled_for is forced to now"
    assert {"id", "name", "status", "bot_id", "template_id"} <= set(data["sequence"])
    assert {"id", "sort_order", "channel", "status", "scheduled_for"} <= set(data["steps"][0])
    assert [s["sort_order"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))
    manual = clarky.start({**MARIA_START, "auto_approve": False, "idempotency_key": "other"})["data"]
    clarky.advance(120)
    assert clarky.enrollment(manual["enrollment_id"])["status"] == "pending_approval"
    _error(clarky.api.get("/sequences/enrollments/enr_nope"), 404, "not_found")


# -- pipeline cards --------------------------------------------------------------------------------
def test_card_crud_as_documented(clarky: Clarky) -> None:
    """Pipelines: create needs pipeline_stage_id and title, order_index "Defaults to the end of the
    stage"; PATCH "Setting archived_at to an ISO 8601 timestamp archives the card; setting it to null
    un-archives it"; list "include_archived: Include archived cards (default false)"; DELETE "Returns
    204 No Content"."""
    made = clarky.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "Acme", "tags": ["x"]})
    assert made.status_code == 201
    card = made.json()["data"]
    assert card["order_index"] == 1 and card["archived_at"] is None  # pc_01HCRD is at 0
    for missing in ({"title": "x"}, {"pipeline_stage_id": "ps_01HSTA"}):
        _error(clarky.api.post("/pipeline-cards", json=missing), 400, "bad_request")
    archived = clarky.api.patch(f"/pipeline-cards/{card['id']}", json={"archived_at": "2026-05-01T00:00:00Z"})
    assert archived.status_code == 200 and archived.json()["data"]["archived_at"].startswith("2026-05-01T00:00:00")
    listed = lambda **p: [c["id"] for c in clarky.api.get("/pipeline-cards", params=p).json()["data"]]  # noqa: E731
    assert card["id"] not in listed() and card["id"] in listed(include_archived="true")
    clarky.api.patch(f"/pipeline-cards/{card['id']}", json={"archived_at": None})
    assert card["id"] in listed()
    gone = clarky.api.delete(f"/pipeline-cards/{card['id']}")
    assert gone.status_code == 204 and gone.content == b""
    _error(clarky.api.get(f"/pipeline-cards/{card['id']}"), 404, "not_found")


def test_pipelines_and_stages_are_read_only(clarky: Clarky) -> None:
    """Pipelines: "Pipelines and stages are read-only via the API; cards support full CRUD.\""""
    for method, path in (("POST", "/pipelines"), ("PATCH", "/pipelines/p_01HPLA"),
                         ("POST", "/pipelines/p_01HPLA/stages"), ("DELETE", "/pipelines/p_01HPLA")):
        _error(clarky.api.request(method, path, json={"name": "x"}), 404, "not_found")
