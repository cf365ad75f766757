"""Where the Clarky simulator used to be kinder than Clarky's documentation (issue 18).

Each test quotes the line of the vendor's documentation it follows; where the documentation is
silent, the simulator's docstring lists the strict choice the test holds it to.
"""

from __future__ import annotations

import time

from reconciler.providers._limits import RollingWindow
from tests.fakes import FakeTime
from tests.sandbox._clarky import MARIA_START, Clarky, error_code, start_body

RATE_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def test_reset_is_a_wall_clock_epoch_after_the_clock_is_advanced(clarky: Clarky) -> None:
    """Rate limits page: "X-RateLimit-Reset (Unix seconds)" — the vendor's clock, not the sandbox's."""
    clarky.advance(86400)  # `sandbox advance 1d`
    for _ in range(3):
        resp = clarky.api.get("/pipelines")
        reset = int(resp.headers["x-ratelimit-reset"])
        assert time.time() <= reset <= time.time() + 61, reset


def test_our_client_waits_at_most_a_window_after_sandbox_advance() -> None:
    """The issue's symptom: after `sandbox advance 1d`, a Reset a day ahead made campaignctl's own
    client wait `reset - now` (about 86,461 s) once Remaining hit 0."""
    sandbox = Clarky({"config": {"rate_limits": {"reads_per_minute": 2, "writes_per_minute": 2}}})
    try:
        sandbox.advance(86400)
        sandbox.api.get("/pipelines")
        last = sandbox.api.get("/pipelines")
        assert last.headers["x-ratelimit-remaining"] == "0"
        fake = FakeTime()
        bucket = RollingWindow(120, sleep=fake.sleep, clock=fake.clock)
        bucket.observe(last.headers)
        assert 0 < bucket.take() <= 61
    finally:
        sandbox.close()


def test_reset_stays_on_the_wall_clock_with_limits_off() -> None:
    sandbox = Clarky(rate_limits=False)
    try:
        sandbox.advance(7 * 86400)
        reset = int(sandbox.api.get("/pipelines").headers["x-ratelimit-reset"])
        assert time.time() <= reset <= time.time() + 61
    finally:
        sandbox.close()


def test_a_401_carries_the_rate_limit_headers(clarky: Clarky) -> None:
    """Rate limits page: "Every response, successful or limited, carries X-RateLimit-Limit,
    X-RateLimit-Remaining, X-RateLimit-Reset"."""
    for client in (clarky.client(None), clarky.client("not_a_clarky_key")):
        resp = client.get("/pipelines")
        assert resp.status_code == 401 and error_code(resp) == "unauthorized"
        assert RATE_HEADERS <= set(resp.headers)
        assert time.time() <= int(resp.headers["x-ratelimit-reset"]) <= time.time() + 61
    write = clarky.client(None).post("/pipeline-cards", json={"title": "x"})
    assert write.status_code == 401 and write.headers["x-ratelimit-limit"] == "60"


def test_get_contact_refuses_unknown_query_parameters(clarky: Clarky) -> None:
    """Errors page: "bad_request 400: malformed JSON, unsupported parameter, missing Content-Type"."""
    assert clarky.api.get("/contacts/c_01HXYZ").status_code == 200
    resp = clarky.api.get("/contacts/c_01HXYZ", params={"expand": "cards"})
    assert resp.status_code == 400 and error_code(resp) == "bad_request"
    assert resp.json()["error"]["details"] == {"field": "expand"}


def test_an_undocumented_method_is_not_found_not_405(clarky: Clarky) -> None:
    """The errors page lists no 405: an undocumented method on a documented path answers like an
    undocumented path, 404 not_found."""
    for method, path in (("PUT", "/pipeline-cards/pc_01HCRD"), ("DELETE", "/contacts/c_01HXYZ"),
                         ("POST", "/pipelines"), ("PATCH", "/sequences/start")):
        resp = clarky.api.request(method, path, json={"title": "x"})
        assert resp.status_code == 404 and error_code(resp) == "not_found", (method, path, resp.text)
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").status_code == 200  # nothing changed


def test_an_empty_card_patch_is_refused(clarky: Clarky) -> None:
    """Update a pipeline card: "Update any combination of fields" — an empty combination changes nothing,
    so the sandbox refuses it (strict choice) instead of answering 200 to a no-op."""
    before = clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]
    resp = clarky.api.patch("/pipeline-cards/pc_01HCRD", json={})
    assert resp.status_code == 400 and error_code(resp) == "bad_request"
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"] == before


def test_a_card_cannot_move_to_another_pipelines_stage(clarky: Clarky) -> None:
    """Pipelines: "Each pipeline has an ordered list of stages, and each stage holds cards";
    "Setting pipeline_stage_id to a new stage moves the card" — within its pipeline (strict choice)."""
    resp = clarky.api.patch("/pipeline-cards/pc_01HCRD", json={"pipeline_stage_id": "ps_01HPTA"})
    assert resp.status_code == 422 and error_code(resp) == "validation_error"
    assert resp.json()["error"]["details"]["field"] == "pipeline_stage_id"
    assert clarky.api.get("/pipeline-cards/pc_01HCRD").json()["data"]["pipeline_stage_id"] == "ps_01HSTA"
    moved = clarky.api.patch("/pipeline-cards/pc_01HCRD", json={"pipeline_stage_id": "ps_01HSTC"})
    assert moved.status_code == 200 and moved.json()["data"]["pipeline_stage_id"] == "ps_01HSTC"


def test_create_contact_needs_an_email_or_a_phone(clarky: Clarky) -> None:
    """Sequences errors: "422 Validation error — e.g. contact has no email or phone"; "At least one of
    emails or phone_numbers is required." The same contact rule holds on POST /contacts."""
    total = clarky.api.get("/contacts").json()["pagination"]["total"]
    for body in ({"bot_id": "b_01HDEF", "first_name": "Nobody"},
                 {"bot_id": "b_01HDEF", "first_name": "Nobody", "emails": [], "phone_numbers": []}):
        resp = clarky.api.post("/contacts", json=body)
        assert resp.status_code == 422 and error_code(resp) == "validation_error", resp.text
    assert clarky.api.get("/contacts").json()["pagination"]["total"] == total
    ok = clarky.api.post("/contacts", json={"bot_id": "b_01HDEF", "phone_numbers": ["+34911234599"]})
    assert ok.status_code == 201


def test_start_refuses_phone_numbers_that_are_not_e164(clarky: Clarky) -> None:
    """The documented start example sends "phone_numbers": ["+34911234567"] (E.164); the docs say
    nothing of other shapes, so the sandbox refuses them (422, strict choice) and sends nothing."""
    for phone in ("0911234567", "+34 911 234 567", "(415) 555-0123", "+0911234567", "34911234567"):
        body = start_body("e164@example.com")
        body["contact"]["phone_numbers"] = [phone]
        resp = clarky.api.post("/sequences/start", json=body)
        assert resp.status_code == 422 and error_code(resp) == "validation_error", (phone, resp.text)
        assert resp.json()["error"]["details"]["field"] == "contact.phone_numbers"
    assert clarky.sends() == {}
    assert clarky.start(MARIA_START)["data"]["contact_action"] in ("created", "updated")
