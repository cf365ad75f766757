"""The loopback test transport itself: a vendor base_url is rewritten onto a real `sandbox serve`
socket with path, query, headers and body intact; drops are real; closing stops the server."""

from __future__ import annotations

import socket

import httpx
import pytest

from reconciler.sandbox.core import Fault
from tests.sandbox._clarky import BASE_URL, KEY, Clarky
from tests.sandbox.loopback import LOOPBACK, LoopbackTransport, sandbox_transport


@pytest.fixture
def clarky():
    sandbox = Clarky(mode=LOOPBACK)
    yield sandbox
    sandbox.close()


def test_requests_reach_the_server_socket_with_path_query_and_body() -> None:
    sandbox = Clarky()
    transport = sandbox_transport(sandbox.hub, "clarky", LOOPBACK)
    assert isinstance(transport, LoopbackTransport)
    try:
        with httpx.Client(base_url=BASE_URL, transport=transport, headers={"Authorization": f"Bearer {KEY}"}) as api:
            resp = api.get("/contacts", params={"search": "a b/ü", "page_size": 5})
            assert resp.status_code == 200 and resp.json()["data"] == []
            assert resp.request.url.host == "clarky.ai"   # the caller's request, unchanged
            made = api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "Größe – ok"})
            assert made.status_code == 201 and made.json()["data"]["title"] == "Größe – ok"
        assert all(url.startswith("http://127.0.0.1:") for url in transport.forwarded)
        assert transport.forwarded[0].endswith("/clarky/api/v1/contacts?search=a+b%2F%C3%BC&page_size=5")
        logged = sandbox.hub.store.requests("clarky")
        assert [(r["method"], r["path"], r["query"]) for r in logged] == [
            ("GET", "/api/v1/contacts", "page_size=5&search=a b/ü"), ("POST", "/api/v1/pipeline-cards", "")]
    finally:
        sandbox.close()


def test_a_committed_write_whose_answer_is_lost_is_a_real_disconnect(clarky: Clarky) -> None:
    clarky.hub.faults.script.append(Fault("commit_timeout", method="POST"))
    with pytest.raises(httpx.RemoteProtocolError):
        clarky.api.post("/pipeline-cards", json={"pipeline_stage_id": "ps_01HSTA", "title": "lost answer"})
    titles = [c["title"] for c in clarky.api.get("/pipeline-cards").json()["data"]]
    assert "lost answer" in titles   # committed on the server all the same


def test_closing_the_client_stops_its_server() -> None:
    sandbox = Clarky()
    transport = sandbox_transport(sandbox.hub, "clarky", LOOPBACK)
    client = httpx.Client(base_url=BASE_URL, transport=transport, headers={"Authorization": f"Bearer {KEY}"})
    assert client.get("/pipelines").status_code == 200
    port = int(transport.forwarded[0].split(":")[2].split("/")[0])
    client.close()
    sandbox.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def test_unknown_mode_is_refused() -> None:
    sandbox = Clarky()
    try:
        with pytest.raises(ValueError, match="unknown transport mode"):
            sandbox_transport(sandbox.hub, "clarky", "carrier-pigeon")
    finally:
        sandbox.close()
