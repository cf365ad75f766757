"""Kalent simulator: the non-idempotent start, its prerequisites, status progression and events."""

from __future__ import annotations

import pytest

from tests.sandbox._kalent import INVITE, MAIL, Kalent, make

DAY = 86400


@pytest.fixture
def kalent():
    k = make()
    yield k
    k.close()


def test_starting_twice_sends_twice_the_documented_trap(kalent: Kalent) -> None:
    bp = kalent.blueprint([INVITE, MAIL])
    assert kalent.start(bp, ["cand_123", "cand_456"]).json()["data"]["candidateCount"] == 2
    first = kalent.status("cand_123")["sequenceId"]
    again = kalent.start(bp, ["cand_123"])
    assert again.status_code == 200 and again.json()["data"] == {"started": True, "blueprintId": bp, "candidateCount": 1}
    assert kalent.store.sends("kalent") == {("kalent", bp, "cand_123"): 2, ("kalent", bp, "cand_456"): 1}
    latest = kalent.status("cand_123")
    assert latest["sequenceId"] != first and latest["blueprintId"] == bp


def test_an_id_listed_twice_in_one_call_is_two_sends(kalent: Kalent) -> None:
    bp = kalent.blueprint([MAIL])
    assert kalent.start(bp, ["cand_790", "cand_790"]).json()["data"]["candidateCount"] == 2
    assert kalent.store.sends("kalent") == {("kalent", bp, "cand_790"): 2}


def test_at_most_100_candidate_ids_per_call() -> None:
    k = make(bulk=101)
    try:
        bp = k.blueprint([MAIL])
        ids = [f"cand_bulk_{i:05d}" for i in range(1, 102)]
        too_many = k.start(bp, ids)
        assert (too_many.status_code, too_many.json()["error"]["code"]) == (400, "validation_error")
        assert "100" in too_many.json()["error"]["message"]
        assert k.store.sends("kalent") == {}
        assert k.start(bp, ids[:100]).json()["data"]["candidateCount"] == 100
        assert len(k.store.sends("kalent")) == 100
    finally:
        k.close()


@pytest.mark.parametrize(("steps", "connected", "code"), [
    ([{**MAIL, "id": "wa", "type": "WHATSAPP", "subject": None}], ["linkedin", "email"], "whatsapp_not_connected_or_syncing"),
    ([MAIL], ["linkedin"], "email_not_connected_or_syncing"),
    ([INVITE], ["email"], "linkedin_not_connected_or_syncing"),
    ([{**INVITE, "linkedInType": "LINKEDIN_INMAIL"}], ["linkedin", "email"], "linkedin_inmail_not_available"),
])
def test_a_needed_channel_not_connected_is_403_with_details_code(steps: list, connected: list, code: str) -> None:
    steps = [{k: v for k, v in s.items() if v is not None} for s in steps]
    k = make(connected_channels=connected)
    try:
        resp = k.start(k.blueprint(steps), ["cand_123"])
        assert (resp.status_code, resp.json()["error"]["code"], resp.json()["error"]["details"]["code"]) == (403, "forbidden", code)
        assert k.store.sends("kalent") == {}
    finally:
        k.close()


def test_channel_events_connect_and_disconnect(kalent: Kalent) -> None:
    bp = kalent.blueprint([MAIL])
    assert kalent.event("disconnect_channel", channel="email") == "email disconnected"
    assert kalent.start(bp, ["cand_123"]).json()["error"]["details"]["code"] == "email_not_connected_or_syncing"
    kalent.event("connect_channel", channel="email")
    assert kalent.start(bp, ["cand_123"]).status_code == 200


@pytest.mark.parametrize(("ids", "status", "code"), [
    (["cand_900"], 400, "validation_error"),  # another sourcing's candidate
    (["cand_123", "cand_nope"], 404, "not_found"),
    ([123], 400, "validation_error"),
])
def test_candidates_must_exist_in_the_blueprint_sourcing(kalent: Kalent, ids: list, status: int, code: str) -> None:
    resp = kalent.start(kalent.blueprint([MAIL]), ids)
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
    assert kalent.store.sends("kalent") == {}


def test_a_blueprint_without_steps_cannot_start(kalent: Kalent) -> None:
    resp = kalent.start(kalent.blueprint([]), ["cand_123"])
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "validation_error")


def test_status_progresses_on_the_clock_to_completed(kalent: Kalent) -> None:
    asap = {k: v for k, v in MAIL.items() if k != "delay"} | {"id": "m0", "temporalityType": "ASAP"}
    bp = kalent.blueprint([asap, MAIL,
                           {**MAIL, "id": "m2", "delay": {"value": 2, "unit": "minute"}}])
    assert kalent.status("cand_456") is None
    envelope = kalent.data("/candidates/cand_456/dynamic-sequence")
    assert envelope == {"candidateId": "cand_456", "talentId": "tal_456", "sourcingId": "src_backend", "sequence": None}
    kalent.start(bp, ["cand_456"])
    seq = kalent.status("cand_456")
    assert (seq["displayStatus"], seq["rawStatus"], seq["completedStepCount"], seq["stepCount"]) == ("SCHEDULED", "RUNNING", 1, 3)
    assert seq["currentStep"]["id"] == "mail-1" and seq["name"] == "Outreach"
    kalent.clock.advance(3 * DAY - 60)
    assert kalent.status("cand_456")["completedStepCount"] == 1
    kalent.clock.advance(61)
    assert kalent.status("cand_456")["currentStep"]["id"] == "m2"
    kalent.clock.advance(120)
    done = kalent.status("cand_456")
    assert (done["displayStatus"], done["rawStatus"], done["completedStepCount"], done["currentStep"]) == ("COMPLETED", "COMPLETED", 3, None)


def test_invite_waits_for_acceptance_then_settles(kalent: Kalent) -> None:
    settled = {**MAIL, "temporalityType": "AFTER_INVITATION_SETTLED", "policy": {"inviteTimeoutDays": 2}}
    settled.pop("delay")
    bp = kalent.blueprint([INVITE, settled])
    kalent.start(bp, ["cand_123", "cand_456"])
    assert kalent.status("cand_123")["displayStatus"] == "WAITING_FOR_ACCEPTANCE"
    with pytest.raises(ValueError):
        kalent.event("reply", candidate="cand_789")  # no sequence
    assert kalent.event("accept_invite", candidate="cand_123").endswith("is now COMPLETED")
    assert kalent.status("cand_123")["displayStatus"] == "COMPLETED"  # the follow-up fired on acceptance
    assert kalent.status("cand_456")["displayStatus"] == "WAITING_FOR_ACCEPTANCE"
    kalent.clock.advance(2 * DAY + 1)  # unaccepted invite times out, the follow-up goes anyway
    assert kalent.status("cand_456")["displayStatus"] == "COMPLETED"


def test_reply_stops_the_sequence(kalent: Kalent) -> None:
    kalent.start(kalent.blueprint([INVITE, MAIL]), ["cand_123"])
    assert "TALENT_REPLIED" in kalent.event("reply", candidate="cand_123")
    kalent.clock.advance(30 * DAY)
    seq = kalent.status("cand_123")
    assert (seq["displayStatus"], seq["rawStatus"], seq["completedStepCount"]) == ("TALENT_REPLIED", "STOPPED", 1)


def test_pause_then_resume_counts_delays_from_the_resume(kalent: Kalent) -> None:
    kalent.start(kalent.blueprint([INVITE, MAIL]), ["cand_123"])
    kalent.event("pause", candidate="cand_123")
    kalent.clock.advance(10 * DAY)
    assert (kalent.status("cand_123")["displayStatus"], kalent.status("cand_123")["completedStepCount"]) == ("PAUSED", 1)
    kalent.event("set_status", candidate="cand_123", status="SCHEDULED")
    kalent.clock.advance(3 * DAY - 10)
    assert kalent.status("cand_123")["displayStatus"] == "SCHEDULED"
    kalent.clock.advance(20)
    assert kalent.status("cand_123")["displayStatus"] == "COMPLETED"


def test_error_and_action_required_events(kalent: Kalent) -> None:
    kalent.start(kalent.blueprint([MAIL]), ["cand_123", "cand_456"])
    kalent.event("error", candidate="cand_123", reason="email_bounced")
    seq = kalent.status("cand_123")
    assert (seq["displayStatus"], seq["rawStatus"], seq["errorReason"]) == ("ERROR", "FAILED", "email_bounced")
    kalent.event("set_status", candidate="cand_456", status="ACTION_REQUIRED", reason="validate_ai_draft")
    seq = kalent.status("cand_456")
    assert (seq["displayStatus"], seq["actionRequired"]) == ("ACTION_REQUIRED", {"reason": "validate_ai_draft"})


def test_event_errors_for_unknown_candidates_and_early_accept(kalent: Kalent) -> None:
    with pytest.raises(LookupError):
        kalent.event("reply", candidate="cand_nope")
    with pytest.raises(LookupError):
        kalent.event("set_status", candidate="cand_nope", status="NOT_RETAINED")
    kalent.start(kalent.blueprint([MAIL]), ["cand_123"])
    with pytest.raises(ValueError):
        kalent.event("accept_invite", candidate="cand_123")
    with pytest.raises(KeyError):
        kalent.event("explode", candidate="cand_123")


def test_status_reports_the_latest_blueprint_started(kalent: Kalent) -> None:
    first, second = kalent.blueprint([MAIL], name="A"), kalent.blueprint([INVITE], name="B")
    kalent.start(first, ["cand_789"])
    kalent.event("reply", candidate="cand_789")
    kalent.start(second, ["cand_789"])
    seq = kalent.status("cand_789")
    assert (seq["blueprintId"], seq["name"], seq["displayStatus"]) == (second, "B", "WAITING_FOR_ACCEPTANCE")



def test_state_survives_a_new_process_on_the_same_store(tmp_path) -> None:
    import httpx

    from reconciler.sandbox.hub import build_hub, load_seed
    from reconciler.sandbox.transport import SandboxTransport
    from tests.sandbox._kalent import BASE_URL, KEY, SEED_FILE

    seed = load_seed(SEED_FILE.parents[1])
    seed["kalent"]["config"]["dispatch_delay"] = "0s"

    def client(hub):
        return httpx.Client(transport=SandboxTransport(hub, "kalent"), base_url=BASE_URL, headers={"x-api-key": KEY})

    first = build_hub(tmp_path / "sandbox.db", seed, rate_limits=False)
    with client(first) as http:
        bp = http.post("/sourcings/src_backend/sequence-blueprints", json={"name": "P", "steps": [MAIL]}).json()["data"]
        assert http.post(f"/sequence-blueprints/{bp['blueprintId']}/start", json={"candidateIds": ["cand_123"]}).status_code == 200
    first.store.close()
    second = build_hub(tmp_path / "sandbox.db", seed, rate_limits=False)
    try:
        with client(second) as http:
            seq = http.get("/candidates/cand_123/dynamic-sequence").json()["data"]["sequence"]
            assert (seq["blueprintId"], seq["displayStatus"]) == (bp["blueprintId"], "SCHEDULED")
            assert http.get("/sourcings/src_backend/candidates").json()["data"]["pagination"]["total"] == 4  # not re-seeded
            listed = http.get("/sourcings/src_backend/sequence-blueprints").json()["data"]["blueprints"]
            assert listed == [bp]
        assert second.store.sends("kalent") == {("kalent", bp["blueprintId"], "cand_123"): 1}
    finally:
        second.store.close()
