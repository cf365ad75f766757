"""Kalent simulator: sequence blueprints, whole-list step replacement and every step rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox._kalent import INVITE, MAIL, Kalent, make


@pytest.fixture
def kalent():
    k = make()
    yield k
    k.close()


def _step(**overrides: Any) -> dict[str, Any]:
    step = {"id": "s", "name": "Step", "type": "WHATSAPP", "content": "Hi {{firstname}}", "temporalityType": "ASAP"}
    step.update(overrides)
    return {k: v for k, v in step.items() if v is not None}


def test_create_empty_then_list_and_get(kalent: Kalent) -> None:
    resp = kalent.http.post("/sourcings/src_backend/sequence-blueprints", json={"name": "Empty"})
    assert resp.status_code == 201
    bp = resp.json()["data"]
    assert set(bp) == {"blueprintId", "name", "sourcingId", "createdAt", "updatedAt", "steps", "stepCount", "channels"}
    assert (bp["name"], bp["sourcingId"], bp["steps"], bp["stepCount"], bp["channels"]) == ("Empty", "src_backend", [], 0, [])
    listed = kalent.data("/sourcings/src_backend/sequence-blueprints")
    assert listed == {"blueprints": [bp], "pagination": {"page": 0, "pageSize": 20, "total": 1, "hasNextPage": False}}
    assert kalent.blueprint_data(bp["blueprintId"]) == bp
    assert kalent.data("/sourcings/src_frontend/sequence-blueprints")["blueprints"] == []
    assert kalent.data("/sourcings/src_backend/sequence-blueprints", name="EMP")["blueprints"] == [bp]
    assert kalent.data("/sourcings/src_backend/sequence-blueprints", name="other")["blueprints"] == []


def test_steps_are_stored_with_channels_and_invitation_content_blanked(kalent: Kalent) -> None:
    invite = {**INVITE, "linkedInType": "LINKEDIN_INVITATION", "content": "ignored by Kalent"}
    whatsapp = _step(id="wa", temporalityType="DELAYED", delay={"value": 6, "unit": "day"},
                     policy={"skipStepIfNoContact": True})
    bp = kalent.blueprint_data(kalent.blueprint([invite, MAIL, whatsapp]))
    assert bp["steps"][0]["content"] == ""
    assert bp["steps"][1] == MAIL and bp["steps"][2] == whatsapp
    assert (bp["stepCount"], bp["channels"]) == (3, ["LINKEDIN", "EMAIL", "WHATSAPP"])
    blank = {**invite, "content": ""}
    assert kalent.blueprint_data(kalent.blueprint([blank], name="b"))["steps"][0]["content"] == ""


def test_patch_steps_replaces_the_whole_list(kalent: Kalent) -> None:
    bid = kalent.blueprint([INVITE, MAIL, _step(id="wa")])
    resp = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json={"steps": [MAIL]})
    assert resp.status_code == 200
    assert resp.json()["data"]["steps"] == [MAIL]
    assert (resp.json()["data"]["stepCount"], resp.json()["data"]["channels"]) == (1, ["EMAIL"])
    renamed = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json={"name": "Renamed"}).json()["data"]
    assert renamed["name"] == "Renamed" and renamed["steps"] == [MAIL]  # no steps sent: steps kept
    cleared = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json={"steps": []}).json()["data"]
    assert cleared["steps"] == [] and cleared["stepCount"] == 0


@pytest.mark.parametrize(("body", "path"), [
    ({}, ""),
    ({"title": "x"}, "title"),
    ({"name": ""}, "name"),
    ({"config": []}, "config"),
])
def test_patch_body_rules(kalent: Kalent, body: dict, path: str) -> None:
    bid = kalent.blueprint([MAIL])
    resp = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json=body)
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "validation_error")
    assert path in [i["path"] for i in resp.json()["error"]["details"]["issues"]]


def test_create_needs_a_name_and_a_known_sourcing(kalent: Kalent) -> None:
    resp = kalent.http.post("/sourcings/src_backend/sequence-blueprints", json={"steps": []})
    assert resp.status_code == 400 and resp.json()["error"]["details"]["issues"][0]["path"] == "name"
    resp = kalent.http.post("/sourcings/src_nope/sequence-blueprints", json={"name": "x"})
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found")
    assert kalent.request("PATCH", "/sequence-blueprints/bp_nope", json={"name": "x"}).status_code == 404


BAD_STEPS = [
    ([_step(id=None)], "steps[0].id"),
    ([_step(name="")], "steps[0].name"),
    ([_step(type="FAX")], "steps[0].type"),
    ([_step(type="LINKEDIN")], "steps[0].linkedInType"),
    ([_step(type="LINKEDIN", linkedInType="LINKEDIN_POKE")], "steps[0].linkedInType"),
    ([_step(linkedInType="LINKEDIN_MESSAGE")], "steps[0].linkedInType"),
    ([_step(content=None)], "steps[0].content"),
    ([_step(content="   ")], "steps[0].content"),
    ([_step(type="LINKEDIN", linkedInType="LINKEDIN_MESSAGE", content=None)], "steps[0].content"),
    ([_step(type="EMAIL")], "steps[0].subject"),
    ([_step(subject="Hi")], "steps[0].subject"),
    ([_step(content="Hi {{company}}")], "steps[0].content"),
    ([_step(type="EMAIL", subject="For {{firstName}}")], "steps[0].subject"),
    ([_step(temporalityType="LATER")], "steps[0].temporalityType"),
    ([_step(temporalityType=None)], "steps[0].temporalityType"),
    ([_step(temporalityType="DELAYED")], "steps[0].delay"),
    ([_step(delay={"value": 1, "unit": "day"})], "steps[0].delay"),
    ([_step(temporalityType="DELAYED", delay={"value": 0, "unit": "day"})], "steps[0].delay.value"),
    ([_step(temporalityType="DELAYED", delay={"value": 1.5, "unit": "day"})], "steps[0].delay.value"),
    ([_step(temporalityType="DELAYED", delay={"value": 1, "unit": "week"})], "steps[0].delay.unit"),
    ([_step(temporalityType="DELAYED", delay={"value": 1})], "steps[0].delay"),
    ([_step(contentSource="ai")], "steps[0].contentSource"),
    ([_step(config={"userId": 5})], "steps[0].config"),
    ([_step(policy={"inviteTimeoutDays": 0})], "steps[0].policy.inviteTimeoutDays"),
    ([_step(policy={"skipStepIfNoContact": "yes"})], "steps[0].policy.skipStepIfNoContact"),
    ([_step(policy={"autoValidateAIDraft": 1})], "steps[0].policy.autoValidateAIDraft"),
    ([_step(policy={"retry": True})], "steps[0].policy.retry"),
    ([_step(order=1)], "steps[0].order"),
    ([_step(id="a"), _step(id="a")], "steps[1].id"),
    ([INVITE, {**INVITE, "id": "invite-2", "linkedInType": "LINKEDIN_INVITATION"}], "steps[1].linkedInType"),
    (["not an object"], "steps[0]"),
    ({"id": "x"}, "steps"),
]


@pytest.mark.parametrize(("steps", "path"), BAD_STEPS, ids=[p + ":" + str(i) for i, (_, p) in enumerate(BAD_STEPS)])
def test_invalid_steps_are_rejected_on_create_and_patch(kalent: Kalent, steps: Any, path: str) -> None:
    resp = kalent.http.post("/sourcings/src_backend/sequence-blueprints", json={"name": "Bad", "steps": steps})
    assert (resp.status_code, resp.json()["success"], resp.json()["error"]["code"]) == (400, False, "validation_error")
    assert path in [i["path"] for i in resp.json()["error"]["details"]["issues"]]
    bid = kalent.blueprint([MAIL])
    patched = kalent.request("PATCH", f"/sequence-blueprints/{bid}", json={"steps": steps})
    assert patched.status_code == 400
    assert kalent.blueprint_data(bid)["steps"] == [MAIL]  # nothing half-applied
    assert len(kalent.data("/sourcings/src_backend/sequence-blueprints")["blueprints"]) == 1


@pytest.mark.parametrize("step", [
    _step(type="SMS"),
    _step(type="LINKEDIN", linkedInType="LINKEDIN_INMAIL", content="Hi {{ sourcingJobTitle }}"),
    _step(temporalityType="AFTER_INVITATION_SETTLED", policy={"inviteTimeoutDays": 5}),
    _step(temporalityType="DELAYED", delay={"value": 30, "unit": "minute"}, contentSource="suggestedByKalent",
          config={"userId": "usr_1"}, policy={"autoValidateAIDraft": True, "skipStepIfNoContact": False}),
    _step(type="EMAIL", subject="{{recruiterFirstname}} from {{candidateCompanyName}}",
          content="{{lastname}} {{candidateJobTitle}} {{candidateLocation}} {{sourcingLocation}} {{recruiterLastname}}"),
])
def test_valid_steps_are_accepted(kalent: Kalent, step: dict) -> None:
    bid = kalent.blueprint([step])
    assert kalent.blueprint_data(bid)["steps"] == [step]
