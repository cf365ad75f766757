"""The sandbox's answer-changing faults (`body`, `strip`), per-fault `times`, error codes, and the
Kalent `dispatch_delay` fault, in process and over a real loopback socket."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.sandbox.hub import build_hub, load_seed
from tests.conftest import EXAMPLE
from tests.sandbox.loopback import MODES, sandbox_transport

KALENT = "https://app.kalent.ai/api/v1"


@pytest.fixture(params=MODES)
def kalent(request):
    hub = build_hub(None, load_seed(EXAMPLE), rate_limits=False)
    client = httpx.Client(base_url=KALENT, headers={"x-api-key": "k"},
                          transport=sandbox_transport(hub, "kalent", request.param))
    yield hub, client
    client.close()
    hub.store.close()


def test_a_body_fault_answers_raw_html_with_a_2xx(kalent):
    hub, client = kalent
    hub.faults.script.append(Fault("body", method="GET", path="/sourcings$", raw="<html>maintenance</html>"))
    resp = client.get("/sourcings")
    assert resp.status_code == 200 and resp.text == "<html>maintenance</html>"
    assert resp.headers["content-type"].startswith("text/html")
    assert client.get("/sourcings").json()["data"]["sourcings"]  # one-shot: the next answer is real
    assert [r["outcome"] for r in hub.store.requests("kalent")] == ["reshaped", "ok"]


def test_a_body_fault_answers_a_json_value_and_a_strip_fault_removes_one_key(kalent):
    hub, client = kalent
    hub.faults.script.append(Fault("body", path="/sourcings$", body={}))
    hub.faults.script.append(Fault("strip", path="/dynamic-sequence$", key="data.sequence"))
    assert client.get("/sourcings").json() == {}
    answer = client.get("/candidates/cand_123/dynamic-sequence").json()
    assert answer["success"] is True and answer["data"]["candidateId"] == "cand_123"
    assert "sequence" not in answer["data"]


def test_times_none_keeps_a_fault_until_cleared_and_a_status_fault_takes_a_code(kalent):
    hub, client = kalent
    hub.faults.script.append(Fault("status", status=404, code="not_found", message="Candidate not found",
                                   path="/dynamic-sequence$", times=None))
    for _ in range(3):
        resp = client.get("/candidates/cand_123/dynamic-sequence")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    hub.faults = FaultPlan()
    assert client.get("/candidates/cand_123/dynamic-sequence").status_code == 200


def test_a_dispatch_delay_fault_holds_one_start_out_of_the_status_endpoint(kalent):
    hub, client = kalent
    sourcing = client.get("/sourcings").json()["data"]["sourcings"][0]["sourcingId"]
    created = client.post(f"/sourcings/{sourcing}/sequence-blueprints", json={"name": "bp", "steps": [
        {"id": "m", "name": "Mail", "type": "EMAIL", "subject": "Hi", "content": "Hi", "temporalityType": "ASAP"}]})
    blueprint = created.json()["data"]["blueprintId"]
    hub.faults.script.append(Fault("dispatch_delay", method="POST", path="/start$", seconds=900))
    candidate = client.get(f"/sourcings/{sourcing}/candidates").json()["data"]["candidates"][0]["candidate"]["id"]
    assert client.post(f"/sequence-blueprints/{blueprint}/start", json={"candidateIds": [candidate]}).status_code == 200
    status = f"/candidates/{candidate}/dynamic-sequence"
    hub.simulators["kalent"].clock.advance(600)
    assert client.get(status).json()["data"]["sequence"] is None  # ten minutes on, still dispatching
    hub.simulators["kalent"].clock.advance(301)
    assert client.get(status).json()["data"]["sequence"]["blueprintId"] == blueprint


def test_fault_plans_from_json_name_their_kinds():
    plan = FaultPlan.from_dict({"script": [{"kind": "strip", "key": "data", "times": None}],
                                "error_rate": 0.5, "only": {"method": "WRITE"}})
    assert plan.script[0].times is None and plan.only.method == "WRITE"
    with pytest.raises(ValueError, match="unknown fault kind 'garbage'"):
        Fault("garbage")
    with pytest.raises(ValueError, match="needs `key`"):
        Fault("strip")
