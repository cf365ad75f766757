"""The Clarky simulator against the documented API: examples, auth, pagination, rate limits,
contacts and pipeline cards (sequences and events are in test_clarky_sim_sequences.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.sandbox.clarky import DEFAULT_WORLD
from reconciler.sandbox.core import Fault
from tests.sandbox._clarky import Clarky, error_code
from tests.sandbox.loopback import over_both_transports

PIPELINE_KEYS = {"id", "workspace_id", "bot_id", "name", "is_default", "is_private", "created_at", "updated_at"}
STAGE_KEYS = {"id", "bot_id", "pipeline_id", "name", "color", "order_index", "created_at", "updated_at"}
CARD_KEYS = {"id", "pipeline_stage_id", "contact_id", "title", "description", "tags", "order_index",
             "archived_at", "created_at", "updated_at"}
SEED_FILE = Path(__file__).resolve().parents[2] / "campaigns" / ".sandbox" / "clarky.yaml"


# -- documented examples (seed 001), in process and over loopback -----------------------------------
@over_both_transports("clarky")
def test_list_pipelines_example(clarky: Clarky) -> None:
    resp = clarky.api.get("/pipelines", params={"bot_id": "b_01HDEF"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["pagination"] == {"page": 1, "page_size": 25, "total": 2, "total_pages": 1}
    sales = body["data"][0]
    assert set(sales) == PIPELINE_KEYS
    assert (sales["id"], sales["name"], sales["is_default"], sales["is_private"]) == ("p_01HPLA", "Sales Pipeline", True, False)
    assert clarky.api.get("/pipelines", params={"bot_id": "b_other"}).json()["data"] == []


@over_both_transports("clarky")
def test_list_stages_is_sorted_and_not_paginated(clarky: Clarky) -> None:
    body = clarky.api.get("/pipelines/p_01HPLA/stages").json()
    assert set(body) == {"data"}
    assert [(s["id"], s["name"], s["order_index"]) for s in body["data"]] == [
        ("ps_01HSTA", "Lead", 0), ("ps_01HSTB", "Qualified", 1), ("ps_01HSTC", "Closed Won", 2)]
    assert all(set(s) == STAGE_KEYS and s["pipeline_id"] == "p_01HPLA" for s in body["data"])
    assert error_code(clarky.api.get("/pipelines/p_nope/stages")) == "not_found"


@over_both_transports("clarky")
def test_list_and_get_card_examples(clarky: Clarky) -> None:
    listed = clarky.api.get("/pipeline-cards", params={"pipeline_stage_id": "ps_01HSTA"}).json()
    assert listed["pagination"] == {"page": 1, "page_size": 25, "total": 1, "total_pages": 1}
    card = listed["data"][0]
    assert set(card) == CARD_KEYS
    assert (card["id"], card["contact_id"], card["title"], card["tags"]) == ("pc_01HCRD", "c_01HXYZ", "Acme Corp – renewal", ["renewal"])
    got = clarky.api.get("/pipeline-cards/pc_01HCRD").json()
    assert got == {"data": card}


@over_both_transports("clarky")
def test_create_move_delete_card_examples(clarky: Clarky) -> None:
    resp = clarky.api.post("/pipeline-cards", json={
        "pipeline_stage_id": "ps_01HSTA", "title": "Acme Corp – renewal", "contact_id": "c_01HXYZ", "tags": ["renewal"]})
    assert resp.status_code == 201
    card = resp.json()["data"]
    assert set(card) == CARD_KEYS and card["order_index"] == 1 and card["archived_at"] is None
    moved = clarky.api.patch(f"/pipeline-cards/{card['id']}", json={"pipeline_stage_id": "ps_01HSTC", "order_index": 0})
    assert moved.status_code == 200
    assert set(moved.json()["data"]) == {"id", "pipeline_stage_id", "order_index", "updated_at"}
    assert moved.json()["data"]["pipeline_stage_id"] == "ps_01HSTC"
    deleted = clarky.api.delete(f"/pipeline-cards/{card['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert error_code(clarky.api.get(f"/pipeline-cards/{card['id']}")) == "not_found"


# -- auth, envelope, headers ------------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "sk_live_wrongprefix", ""])
def test_missing_or_malformed_key_is_401(clarky: Clarky, key: str | None) -> None:
    resp = clarky.client(key).get("/pipelines")
    assert resp.status_code == 401
    assert error_code(resp) == "unauthorized"
    assert resp.headers["x-request-id"].startswith("req_")


def test_configured_keys_and_scopes() -> None:
    sandbox = Clarky({"config": {"keys": {"ck_live_full": ["read", "write"], "ck_live_ro": ["read"]}}})
    try:
        assert sandbox.client("ck_live_example").get("/pipelines").status_code == 401  # not a configured key
        readonly = sandbox.client("ck_live_ro")
        assert readonly.get("/pipeline-cards").status_code == 200
        resp = readonly.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "x"})
        assert resp.status_code == 403 and error_code(resp) == "forbidden"
        assert readonly.delete("/pipeline-cards/pc_01HCRD").status_code == 403
        assert sandbox.client("ck_live_full").delete("/pipeline-cards/pc_01HCRD").status_code == 204
    finally:
        sandbox.close()


def test_every_response_carries_request_id_and_rate_headers(clarky: Clarky) -> None:
    for resp in (clarky.api.get("/pipelines"), clarky.api.get("/contacts/c_nope"),
                 clarky.api.post("/pipeline-cards", json={"title": "no stage"})):
        assert resp.headers["x-request-id"].startswith("req_")
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(resp.headers)
    ids = {clarky.api.get("/pipelines").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_bad_requests_use_the_envelope(clarky: Clarky) -> None:
    raw = clarky.api.post("/pipeline-cards", content=b"{not json", headers={"content-type": "application/json"})
    assert raw.status_code == 400 and error_code(raw) == "bad_request"
    no_type = clarky.api.post("/pipeline-cards", content=b'{"title": "x"}')
    assert no_type.status_code == 400 and error_code(no_type) == "bad_request"
    unknown = clarky.api.get("/pipeline-cards", params={"limit": 10})
    assert unknown.status_code == 400 and unknown.json()["error"]["details"] == {"field": "limit"}
    assert clarky.api.put("/pipeline-cards/pc_01HCRD", json={}).status_code == 404  # no 405 documented
    assert error_code(clarky.api.get("/nowhere")) == "not_found"


def test_head_is_a_bodiless_read(clarky: Clarky) -> None:
    resp = clarky.api.head("/pipeline-cards/pc_01HCRD")
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["x-ratelimit-limit"] == "120"


def test_injected_faults_use_the_envelope(clarky: Clarky) -> None:
    clarky.hub.faults.script += [Fault("status", status=503), Fault("status", status=429)]
    unavailable = clarky.api.get("/pipelines")
    assert unavailable.status_code == 503 and error_code(unavailable) == "injected_fault"  # the sandbox-wide marker
    limited = clarky.api.get("/pipelines")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert "x-request-id" in limited.headers


# -- pagination and rate limits -----------------------------------------------------------------------
def test_page_size_over_100_is_422(clarky: Clarky) -> None:
    resp = clarky.api.get("/pipeline-cards", params={"page_size": 101})
    assert resp.status_code == 422
    assert error_code(resp) == "validation_error" and resp.json()["error"]["details"]["field"] == "page_size"
    assert clarky.api.get("/contacts", params={"page_size": 100}).status_code == 200
    assert clarky.api.get("/contacts", params={"page": 0}).status_code == 422


def test_pagination_over_250_cards() -> None:
    sandbox = Clarky({"bulk": {"contacts": 250, "cards": 250, "card_tags": ["campaignctl"]}})
    try:
        seen: list[str] = []
        for page in (1, 2, 3, 4):
            body = sandbox.api.get("/pipeline-cards", params={"pipeline_id": "p_01HPLA", "page": page, "page_size": 100}).json()
            assert body["pagination"] == {"page": page, "page_size": 100, "total": 251, "total_pages": 3}
            seen += [card["id"] for card in body["data"]]
        assert len(seen) == len(set(seen)) == 251
        assert "pc_01HCRD" in seen and "pc_B00000250" in seen
        linked = sandbox.api.get("/pipeline-cards", params={"contact_id": "c_B00000007"}).json()["data"]
        assert [c["id"] for c in linked] == ["pc_B00000007"]
        assert sandbox.api.get("/contacts", params={"tags": "bulk"}).json()["pagination"]["total"] == 250
    finally:
        sandbox.close()


def test_rate_limit_429_with_retry_after_and_separate_buckets() -> None:
    sandbox = Clarky({"config": {"rate_limits": {"reads_per_minute": 3, "writes_per_minute": 2}}})
    try:
        remaining = [sandbox.api.get("/pipelines").headers["x-ratelimit-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        limited = sandbox.api.get("/pipelines")
        assert limited.status_code == 429 and error_code(limited) == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-ratelimit-limit"] == "3" and limited.headers["x-ratelimit-remaining"] == "0"
        assert int(limited.headers["x-ratelimit-reset"]) > 0
        write = sandbox.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "t"})
        assert write.status_code == 201 and write.headers["x-ratelimit-limit"] == "2"  # writes: own bucket
        other_key = sandbox.client("ck_live_other").get("/pipelines")
        assert other_key.status_code == 200  # buckets are per key
        sandbox.advance(61)
        assert sandbox.api.get("/pipelines").status_code == 200
    finally:
        sandbox.close()


def test_rate_limits_off_never_limit() -> None:
    sandbox = Clarky({"config": {"rate_limits": {"reads_per_minute": 1}}}, rate_limits=False)
    try:
        statuses = {sandbox.api.get("/pipelines").status_code for _ in range(5)}
        assert statuses == {200}
    finally:
        sandbox.close()


# -- contacts ---------------------------------------------------------------------------------------
def test_create_contact_accepts_both_email_shapes(clarky: Clarky) -> None:
    plain = clarky.api.post("/contacts", json={"bot_id": "b_01HDEF", "first_name": "Grace", "emails": ["grace@example.com"]})
    assert plain.status_code == 201
    assert plain.json()["data"]["emails"] == [{"email": "grace@example.com", "is_primary": True}]
    objects = clarky.api.post("/contacts", json={
        "bot_id": "b_01HDEF", "emails": [{"email": "alt@x.example", "is_primary": False}, {"email": "main@x.example", "is_primary": True}],
        "phone_numbers": [{"phone_number": "+14155550100", "is_primary": True}]})
    data = objects.json()["data"]
    assert objects.status_code == 201 and data["id"].startswith("c_") and data["workspace_id"] == "w_01HXXX"
    assert [e["email"] for e in data["emails"] if e["is_primary"]] == ["main@x.example"]
    assert data["phone_numbers"] == [{"phone_number": "+14155550100", "is_primary": True}]


def test_create_contact_errors(clarky: Clarky) -> None:
    no_bot = clarky.api.post("/contacts", json={"emails": ["a@b.example"]})
    assert no_bot.status_code == 400 and no_bot.json()["error"]["details"]["field"] == "bot_id"
    bad_bot = clarky.api.post("/contacts", json={"bot_id": "b_elsewhere", "emails": ["a@b.example"]})
    assert bad_bot.status_code == 422 and error_code(bad_bot) == "validation_error"
    dup = clarky.api.post("/contacts", json={"bot_id": "b_01HDEF", "emails": ["ADA@example.com"]})
    assert dup.status_code == 409 and error_code(dup) == "conflict"


def test_get_and_by_email(clarky: Clarky) -> None:
    ada = clarky.api.get("/contacts/c_01HXYZ").json()["data"]
    assert ada["first_name"] == "Ada" and ada["bot_id"] == "b_01HDEF"
    assert clarky.api.get("/contacts/by-email", params={"email": "Ada@Example.com"}).json()["data"]["id"] == "c_01HXYZ"
    missing = clarky.api.get("/contacts/by-email", params={"email": "nobody@example.com"})
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    assert error_code(clarky.api.get("/contacts/c_nope")) == "not_found"


def test_contact_list_filters(clarky: Clarky) -> None:
    clarky.api.post("/contacts", json={"bot_id": "b_01HDEF", "first_name": "Grace", "last_name": "Hopper",
                                       "emails": ["grace@navy.example"], "tags": ["vip", "navy"], "lead_source": "event"})

    def ids(**params: str) -> list[str]:
        return [c["id"] for c in clarky.api.get("/contacts", params=params).json()["data"]]

    grace = ids(search="hopper")
    assert len(grace) == 1
    assert ids(search="NAVY.example") == grace and ids(search="grace hop") == grace
    assert ids(tags="vip,navy") == grace and ids(tags="vip,customer") == []
    assert ids(lead_source="referral") == ["c_01HXYZ"]
    assert set(ids(bot_id="b_01HDEF")) == {"c_01HXYZ", "c_01HOPT", *grace}
    clarky.advance(10)
    assert ids(created_after=clarky.sim.clock.iso()) == []
    assert len(ids(created_before=clarky.sim.clock.iso())) == 3
    assert ids(updated_after="2000-01-01T00:00:00Z") != []
    assert clarky.api.get("/contacts", params={"created_after": "yesterday"}).status_code == 422


# -- cards ----------------------------------------------------------------------------------------
def test_card_filters_and_archiving(clarky: Clarky) -> None:
    made = clarky.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HPTA", "title": "Partner Co"}).json()["data"]

    def ids(**params: str) -> list[str]:
        return [c["id"] for c in clarky.api.get("/pipeline-cards", params=params).json()["data"]]

    assert ids(pipeline_id="p_01HPLB") == [made["id"]]
    assert ids(pipeline_id="p_01HPLA") == ["pc_01HCRD"]
    assert ids(bot_id="b_01HDEF") == ["pc_01HCRD", made["id"]]
    assert ids(contact_id="c_01HXYZ") == ["pc_01HCRD"]
    archived = clarky.api.patch(f"/pipeline-cards/{made['id']}", json={"archived_at": "2026-05-01T00:00:00Z"})
    assert archived.json()["data"]["archived_at"] == "2026-05-01T00:00:00.000Z"
    assert ids(pipeline_id="p_01HPLB") == []
    assert ids(pipeline_id="p_01HPLB", include_archived="true") == [made["id"]]
    assert clarky.api.get(f"/pipeline-cards/{made['id']}").json()["data"]["archived_at"] is not None
    clarky.api.patch(f"/pipeline-cards/{made['id']}", json={"archived_at": None})
    assert ids(pipeline_id="p_01HPLB") == [made["id"]]
    assert clarky.api.get("/pipeline-cards", params={"include_archived": "maybe"}).status_code == 422


def test_card_update_fields_and_validation(clarky: Clarky) -> None:
    resp = clarky.api.patch("/pipeline-cards/pc_01HCRD", json={"title": "Renewal 2027", "description": None, "tags": ["a", "b"]})
    assert resp.json()["data"] == {"id": "pc_01HCRD", "title": "Renewal 2027", "description": None,
                                   "tags": ["a", "b"], "updated_at": resp.json()["data"]["updated_at"]}
    card = clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]
    assert (card["title"], card["tags"], card["pipeline_stage_id"]) == ("Renewal 2027", ["a", "b"], "ps_01HSTA")
    moved = clarky.api.patch("/pipeline-cards/pc_01HCRD", json={"pipeline_stage_id": "ps_01HSTB"}).json()["data"]
    assert moved["pipeline_stage_id"] == "ps_01HSTB"
    for body, field in (({"pipeline_stage_id": "ps_nope"}, "pipeline_stage_id"), ({"contact_id": "c_nope"}, "contact_id"),
                        ({"tags": "x"}, "tags"), ({"archived_at": "soon"}, "archived_at"), ({"title": ""}, "title")):
        bad = clarky.api.patch("/pipeline-cards/pc_01HCRD", json=body)
        assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == field
    assert clarky.api.patch("/pipeline-cards/pc_nope", json={"title": "x"}).status_code == 404
    assert clarky.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA"}).status_code == 400
    assert clarky.api.post("/pipeline-cards", json={"title": "x", "pipeline_stage_id": "ps_01HSTA", "pipeline_id": "p"}).status_code == 400


def test_card_events(clarky: Clarky) -> None:
    assert "Closed Won" in clarky.event("move_card", card_id="pc_01HCRD", stage="closed won")
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]["pipeline_stage_id"] == "ps_01HSTC"
    clarky.event("edit_card", card_id="pc_01HCRD", title="Edited by a person", tags=["renewal", "hot"])
    card = clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]
    assert (card["title"], card["tags"], card["description"]) == ("Edited by a person", ["renewal", "hot"], "Renewal due in Q2")
    clarky.event("edit_card", card_id="pc_01HCRD", tags="renewal, cold")
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]["tags"] == ["renewal", "cold"]
    clarky.event("archive_card", card_id="pc_01HCRD")
    assert clarky.api.get("/pipeline-cards").json()["data"] == []
    clarky.event("delete_card", card_id="pc_01HCRD")
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").status_code == 404
    with pytest.raises(ValueError):
        clarky.event("move_card", card_id="pc_nope", stage="Lead")


# -- seed ---------------------------------------------------------------------------------------
def test_shipped_seed_file_matches_default_world() -> None:
    shipped = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    for key in ("workspace_id", "bots", "templates", "pipelines", "contacts", "cards", "suppressed"):
        assert shipped[key] == DEFAULT_WORLD[key], key


def test_seed_without_defaults_is_empty() -> None:
    sandbox = Clarky({"defaults": False, "bots": [{"id": "b_X"}]})
    try:
        assert sandbox.api.get("/pipelines").json()["data"] == []
        assert sandbox.api.get("/contacts").json()["pagination"]["total"] == 0
    finally:
        sandbox.close()
