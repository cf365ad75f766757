"""Simulator list endpoints memoise their filtered lists (O(N) paging) yet never serve a stale page."""

from __future__ import annotations

from tests.sandbox._clarky import Clarky

BULK = {"bulk": {"contacts": 250, "cards": 250, "stage": "ps_01HSTA", "card_tags": ["campaignctl"]}}


def _all(api, path: str, params: dict) -> list[dict]:
    items, page = [], 1
    while True:
        body = api.get(path, params={**params, "page": page, "page_size": 100}).json()
        items += body["data"]
        if page >= body["pagination"]["total_pages"]:
            return items
        page += 1


def test_paged_contacts_and_cards_are_complete_and_see_writes_made_between_pages() -> None:
    sim = Clarky(BULK, rate_limits=False)
    try:
        first = sim.api.get("/contacts", params={"page": 1, "page_size": 100}).json()
        assert first["pagination"]["total"] == 252  # 250 bulk + the two default contacts
        made = sim.api.post("/contacts", json={"bot_id": "b_01HDEF", "emails": ["late@example.com"], "tags": ["late"]})
        assert made.status_code == 201, made.text
        contacts = _all(sim.api, "/contacts", {})
        assert len(contacts) == 253 and len({c["id"] for c in contacts}) == 253
        assert [c["id"] for c in _all(sim.api, "/contacts", {"tags": "late"})] == [made.json()["data"]["id"]]

        cards = _all(sim.api, "/pipeline-cards", {"pipeline_id": "p_01HPLA"})
        assert len(cards) == 251
        lead = _all(sim.api, "/pipeline-cards", {"pipeline_stage_id": "ps_01HSTA"})
        assert _all(sim.api, "/pipeline-cards", {"pipeline_stage_id": "ps_01HSTC"}) == []
        moved = sim.api.patch(f"/pipeline-cards/{lead[0]['id']}", json={"pipeline_stage_id": "ps_01HSTC"})
        assert moved.status_code == 200, moved.text
        after = _all(sim.api, "/pipeline-cards", {"pipeline_stage_id": "ps_01HSTA"})
        assert len(after) == len(lead) - 1 and lead[0]["id"] not in {c["id"] for c in after}
        assert [c["id"] for c in _all(sim.api, "/pipeline-cards", {"pipeline_stage_id": "ps_01HSTC"})] == [lead[0]["id"]]
    finally:
        sim.close()


def test_request_counts_match_the_request_log() -> None:
    sim = Clarky(BULK, rate_limits=False)
    try:
        _all(sim.api, "/contacts", {})
        assert sim.api.get("/contacts/c_nope").status_code == 404
        counts = sim.hub.store.request_counts()
        assert counts == {"clarky": len(sim.hub.store.requests("clarky"))} and counts["clarky"] == 4
    finally:
        sim.close()
