"""Where the Kalent simulator used to be kinder than Kalent's documentation (issue 18).

Each test quotes the line of the vendor's documentation it follows; where the documentation is
silent, the simulator's docstrings list the strict choice the test holds it to.
"""

from __future__ import annotations

import pytest

from tests.sandbox._kalent import INVITE, MAIL, Kalent, make

PLAIN_INVITE = {"id": "invite", "name": "Invite", "type": "LINKEDIN", "linkedInType": "LINKEDIN_INVITATION",
                "temporalityType": "ASAP"}


@pytest.fixture
def kalent():
    k = make()
    yield k
    k.close()


def _code(resp) -> str:
    body = resp.json()
    assert body["success"] is False and {"code", "message", "debugTrackingCode"} <= set(body["error"]), body
    return body["error"]["code"]


def test_an_invitation_step_needs_content_too(kalent: Kalent) -> None:
    """Create sequence blueprint, step table: "content | string | required"; for LINKEDIN_INVITATION
    it is "accepted but stored as \"\"" — accepted, so still sent."""
    resp = kalent.http.post("/sourcings/src_backend/sequence-blueprints", json={"name": "B", "steps": [PLAIN_INVITE]})
    assert resp.status_code == 400 and _code(resp) == "validation_error"
    assert {"path": "steps[0].content", "message": "content is required"} in resp.json()["error"]["details"]["issues"]
    for content in ("", "Hi {{firstname}}"):
        made = kalent.http.post("/sourcings/src_backend/sequence-blueprints",
                                json={"name": f"B{content}", "steps": [{**PLAIN_INVITE, "content": content}]})
        assert made.status_code == 201 and made.json()["data"]["steps"][0]["content"] == ""


def test_unknown_query_parameters_are_refused(kalent: Kalent) -> None:
    """List candidates: "pageIndex (0-based) and pageSize (default 25, max 50)"; list sourcings and
    blueprints take `page`. A misnamed parameter is refused (strict choice) instead of being ignored
    (`page` on candidates used to return page 0 with hasNextPage: true, a loop for a careless client)."""
    k = make(bulk=60)
    try:
        first = k.data("/sourcings/src_backend/candidates", pageIndex=0, pageSize=50)
        assert first["pagination"]["hasNextPage"] is True
        for path, params in (("/sourcings/src_backend/candidates", {"page": 1}),
                             ("/sourcings", {"pageIndex": 1}),
                             ("/sourcings", {"limit": 5}),
                             ("/sourcings/src_backend/sequence-blueprints", {"pageIndex": 0}),
                             ("/candidates/cand_123/dynamic-sequence", {"verbose": "true"})):
            resp = k.get(path, **params)
            assert resp.status_code == 400 and _code(resp) == "validation_error", (path, params, resp.text)
            assert resp.json()["error"]["details"]["issues"][0]["path"] == next(iter(params))
    finally:
        k.close()


def test_no_undocumented_reads_by_id(kalent: Kalent) -> None:
    """The API reference lists sourcings, candidates and blueprints only as lists per sourcing, plus
    GET /v1/candidates/{candidateId}/dynamic-sequence; there is no GET of one sourcing, one
    candidate or one blueprint."""
    bid = kalent.blueprint([INVITE, MAIL])
    for path in ("/sourcings/src_backend", "/candidates/cand_123", f"/sequence-blueprints/{bid}"):
        resp = kalent.get(path)
        assert resp.status_code == 404 and _code(resp) == "not_found", path
    assert kalent.data("/candidates/cand_123/dynamic-sequence")["sequence"] is None
    listed = kalent.data("/sourcings/src_backend/sequence-blueprints")["blueprints"]
    assert [bp["blueprintId"] for bp in listed] == [bid]
