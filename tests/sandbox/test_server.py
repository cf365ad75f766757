"""The loopback sandbox server and its control client, over real sockets on 127.0.0.1.

A tiny test simulator stands in for the vendor simulators, so these tests pin the server's own
behaviour: routing, drops, the control API, concurrency and the loopback-only bind.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from reconciler.errors import ConfigError
from reconciler.sandbox.core import Clock, Hub, RateLimiter, SimRequest, SimResponse, Simulator, Store
from reconciler.sandbox.server import SandboxControl, SandboxControlError, SandboxServer, serve

VENDORS = ("clarky", "garyclub", "kalent")
AUTH = {"Authorization": "Bearer k"}


class EchoSim(Simulator):
    """Echoes what it received; `POST /enroll` creates an enrollment and records a send."""

    root = "/api/v1"
    routes = [
        ("GET", r"/echo", "echo"),
        ("POST", r"/enroll", "enroll"),
        ("DELETE", r"/things/(?P<thing>[^/]+)", "delete"),
        ("GET", r"/boom", "boom"),
    ]

    def __init__(self, vendor: str, store: Store, clock: Clock, limiter: RateLimiter) -> None:
        self.vendor = vendor
        super().__init__(store, clock, limiter)

    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        if req.headers.get("authorization") != "Bearer k":
            return self.error(401, "unauthorized", "bad key"), ""
        return None, "k"

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        return SimResponse(status, {"error": {"code": code, "message": message}})

    def rate_limit(self, req: SimRequest, key: str) -> tuple[SimResponse | None, dict[str, str]]:
        decision = self.limiter.check(f"{self.vendor}:{key}", 5)
        headers = {"X-RateLimit-Remaining": str(decision.remaining)}
        if not decision.allowed:
            resp = self.error(429, "rate_limited", "slow down")
            resp.headers["Retry-After"] = str(decision.retry_after)
            return resp, headers
        return None, headers

    def echo(self, req: SimRequest) -> SimResponse:
        return SimResponse(200, {"path": req.path, "query": req.query, "test": req.headers.get("x-test"),
                                 "now": self.clock.now()}, {"X-Request-Id": "req_1"})

    def enroll(self, req: SimRequest) -> SimResponse:
        body = req.json()
        enrollment = self.new_id("enr_")
        self.store.collection(f"{self.vendor}.enrollments").put(enrollment, body)
        self.store.record_send(self.vendor, body["sequence"], body["contact"], enrollment, self.clock.now())
        return SimResponse(201, {"id": enrollment, "received": body})

    def delete(self, req: SimRequest, thing: str) -> SimResponse:
        return SimResponse(204)

    def boom(self, req: SimRequest) -> SimResponse:
        raise RuntimeError("simulator bug")

    @property
    def events(self) -> dict[str, Any]:
        return {"reply": self._reply, "crash": self._crash}

    def _crash(self) -> str:
        raise RuntimeError("event bug")

    def _reply(self, contact: str) -> str:
        if not contact:
            raise ValueError("contact must not be empty")
        if contact != "ann@example.com":
            raise KeyError(f"no contact {contact!r}")
        return f"{contact} replied"


@pytest.fixture
def hub():
    store = Store(None)
    clock = Clock(store)
    limiter = RateLimiter(clock)
    hub = Hub(store, {v: EchoSim(v, store, clock, limiter) for v in VENDORS})
    for sim in hub.simulators.values():
        sim.rate_limits = False
    yield hub
    store.close()


@pytest.fixture
def server(hub):
    with SandboxServer(hub) as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as c:
        yield c


@pytest.fixture
def control(server):
    with SandboxControl(server.url) as ctl:
        yield ctl


def enroll(client: httpx.Client, vendor: str, contact: str = "ann@example.com") -> httpx.Response:
    return client.post(f"/{vendor}/api/v1/enroll", json={"sequence": "seq_1", "contact": contact})


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_prefix_is_stripped_and_query_headers_body_pass_through(client, vendor):
    resp = client.get(f"/{vendor}/api/v1/echo", params=[("a", "1"), ("a", "2"), ("q", "x y")],
                      headers={"X-Test": "yes"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-request-id"] == "req_1"
    body = resp.json()
    assert body["path"] == "/api/v1/echo"
    assert body["query"] == {"a": ["1", "2"], "q": ["x y"]}
    assert body["test"] == "yes"
    created = enroll(client, vendor)
    assert created.status_code == 201
    assert created.json()["received"] == {"sequence": "seq_1", "contact": "ann@example.com"}


def test_simulator_answers_its_own_errors_and_204_has_no_body(client):
    assert client.get("/clarky/api/v1/echo", headers={"Authorization": "Bearer nope"}).status_code == 401
    missing = client.get("/clarky/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    deleted = client.delete("/kalent/api/v1/things/t1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get("/kalent/api/v1/echo").status_code == 200   # connection still usable after a 204


@pytest.mark.parametrize("path", ["/", "/nope/api/v1/echo", "/clarkyx/api/v1/echo", "/api/v1/echo"])
def test_unknown_prefix_is_a_json_404(client, path):
    resp = client.get(path)
    assert resp.status_code == 404
    assert "/clarky/" in resp.json()["error"]


def test_simulator_crash_is_a_500_not_a_dead_connection(client):
    resp = client.get("/garyclub/api/v1/boom")
    assert resp.status_code == 500
    assert "garyclub" in resp.json()["error"]
    assert client.get("/garyclub/api/v1/echo").status_code == 200


def test_keep_alive_reuses_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/clarky/api/v1/echo", headers=AUTH)
        first = conn.getresponse()
        assert first.status == 200 and first.read()
        sock = conn.sock
        conn.request("POST", "/clarky/api/v1/enroll", body=b'{"sequence": "s", "contact": "c"}',
                     headers={**AUTH, "Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status == 201 and second.read()
        assert conn.sock is sock    # the same socket served both requests
    finally:
        conn.close()


def test_chunked_request_body_is_read(client):
    def gen():
        yield b'{"sequence": "seq_9", '
        yield b'"contact": "bo@example.com"}'

    resp = client.post("/clarky/api/v1/enroll", content=gen())
    assert resp.status_code == 201
    assert resp.json()["received"] == {"sequence": "seq_9", "contact": "bo@example.com"}


def test_drop_closes_the_socket_without_a_response(client, control):
    control.set_faults({"script": [{"kind": "drop", "method": "POST"}]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        enroll(client, "clarky")
    assert control.sends() == {}
    log = control.requests("clarky")
    assert [(r["method"], r["path"], r["outcome"]) for r in log] == [("POST", "/api/v1/enroll", "dropped")]
    assert enroll(client, "clarky").status_code == 201   # the script was one-shot


def test_committed_drop_loses_the_answer_but_the_write_happened(client, control):
    control.set_faults({"script": [{"kind": "commit_timeout", "vendor": "garyclub"}]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        enroll(client, "garyclub")
    assert control.sends() == {("garyclub", "seq_1", "ann@example.com"): 1}
    [entry] = control.requests("garyclub")
    assert (entry["status"], entry["outcome"]) == (201, "committed_then_dropped")


def test_health_and_unknown_control_endpoints(server, client, control):
    health = control.health()
    assert health["status"] == "ok" and health["vendors"] == sorted(VENDORS)
    assert client.get("/_sandbox/nope").status_code == 404
    assert client.delete("/_sandbox/health").status_code == 405
    assert client.post("/_sandbox/advance", content=b"[1, 2]").status_code == 400
    assert client.post("/_sandbox/advance", content=b"{not json").status_code == 400


def test_faults_replace_and_clear(client, control):
    control.set_faults({"error_rate": 1.0, "error_status": 502, "only": {"kind": "status", "vendor": "kalent"}})
    injected = client.get("/kalent/api/v1/echo")
    assert injected.status_code == 502
    assert injected.json()["error"]["code"] == "injected_fault"
    assert client.get("/clarky/api/v1/echo").status_code == 200
    control.set_faults(None)
    assert client.get("/kalent/api/v1/echo").status_code == 200
    with pytest.raises(SandboxControlError, match=r"PUT .*/_sandbox/faults -> 400: not a fault plan"):
        control.set_faults({"bogus_rate": 1})


def test_advance_moves_the_shared_clock(client, control):
    before = client.get("/clarky/api/v1/echo").json()["now"]
    assert control.advance("2h")["advanced"] == 7200
    after = client.get("/kalent/api/v1/echo").json()["now"]
    assert 7200 <= after - before < 7260
    with pytest.raises(SandboxControlError, match=r"/_sandbox/advance -> 400: not a duration"):
        control.advance("soon")


def test_events_map_errors_to_statuses(control):
    assert control.event("clarky", "reply", contact="ann@example.com") == "ann@example.com replied"
    with pytest.raises(SandboxControlError, match=r"-> 404: no contact 'zed@example.com'"):
        control.event("clarky", "reply", contact="zed@example.com")
    with pytest.raises(SandboxControlError, match=r"-> 400: contact must not be empty"):
        control.event("clarky", "reply", contact="")
    with pytest.raises(SandboxControlError, match=r"-> 404: clarky has no event 'dance'"):
        control.event("clarky", "dance")
    with pytest.raises(SandboxControlError, match=r"-> 404: unknown vendor 'acme'"):
        control.event("acme", "reply", contact="ann@example.com")
    with pytest.raises(SandboxControlError, match=r"-> 400: .*unexpected keyword"):
        control.event("clarky", "reply", who="ann@example.com")
    with pytest.raises(SandboxControlError, match=r"-> 500: sandbox control /_sandbox/events/clarky/crash failed"):
        control.event("clarky", "crash")
    assert control.health()["status"] == "ok"


def test_requests_and_sends_filter_by_vendor(client, control):
    enroll(client, "clarky")
    enroll(client, "clarky")
    enroll(client, "kalent", "bo@example.com")
    assert control.sends() == {("clarky", "seq_1", "ann@example.com"): 2, ("kalent", "seq_1", "bo@example.com"): 1}
    assert control.sends("kalent") == {("kalent", "seq_1", "bo@example.com"): 1}
    assert [r["vendor"] for r in control.requests()] == ["clarky", "clarky", "kalent"]
    assert len(control.requests("kalent")) == 1
    with pytest.raises(SandboxControlError, match="unknown vendor 'acme'"):
        control.requests("acme")


def test_rate_limits_toggle_on_every_simulator(client, control):
    control.rate_limits(True)
    statuses = [client.get("/garyclub/api/v1/echo").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    control.rate_limits(False)
    assert client.get("/garyclub/api/v1/echo").status_code == 200
    with pytest.raises(SandboxControlError, match='"enabled"'):
        control._call("POST", "rate-limits", {"enabled": "yes"})


def test_sequential_requests_are_not_held_back_by_nagle(client):
    enroll(client, "clarky")
    start = time.monotonic()
    for _ in range(50):
        assert client.get("/clarky/api/v1/echo").status_code == 200
    # With Nagle on, headers and body in two writes cost ~40 ms each (2 s here); now ~1 ms.
    assert time.monotonic() - start < 1.0


def test_twenty_parallel_requests_are_served_concurrently(server, control):
    control.set_faults({"latency": 0.2})
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as c:
        with ThreadPoolExecutor(20) as pool:
            start = time.monotonic()
            responses = list(pool.map(lambda i: enroll(c, "clarky", f"p{i}@example.com"), range(20)))
            elapsed = time.monotonic() - start
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["id"] for r in responses}) == 20
    assert elapsed < 2.0    # serially, 20 x 0.2 s of latency would take 4 s
    assert sum(control.sends().values()) == 20


def test_binds_loopback_address_only(server):
    assert server.url == f"http://127.0.0.1:{server.port}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass
    # 127.0.0.2 is the same machine: a wildcard (0.0.0.0) bind would accept it, 127.0.0.1 does not.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", server.port), timeout=2).close()


def test_port_in_use_is_a_config_error(server, hub):
    with pytest.raises(ConfigError, match=rf"sandbox cannot listen on 127.0.0.1:{server.port}: Address already in use"):
        SandboxServer(hub, server.port)


def test_unreachable_sandbox_error_names_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with SandboxControl(f"http://127.0.0.1:{port}") as ctl:
        with pytest.raises(SandboxControlError, match=rf"GET http://127.0.0.1:{port}/_sandbox/health: not reachable"):
            ctl.health()


def test_serve_blocks_until_stopped_then_frees_the_port(hub):
    urls: list[str] = []
    listening = threading.Event()
    stop = threading.Event()

    def ready(url: str) -> None:
        urls.append(url)
        listening.set()

    thread = threading.Thread(target=serve, args=(hub, 0, ready), kwargs={"stop": stop})
    thread.start()
    try:
        assert listening.wait(5)
        with httpx.Client(base_url=urls[0], headers=AUTH) as c:
            assert c.get("/clarky/api/v1/echo").status_code == 200   # leaves an idle keep-alive connection
            assert thread.is_alive()
            stop.set()
            thread.join(5)
            assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
    port = int(urls[0].rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()



def test_a_held_write_is_done_at_once_and_answered_only_when_the_fault_plan_changes(server, control):
    control.set_faults({"script": [{"kind": "hold", "method": "WRITE", "seconds": 30}]})
    answers: list[int] = []
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as c:
        held = threading.Thread(target=lambda: answers.append(enroll(c, "clarky", "held@example.com").status_code))
        held.start()
        deadline = time.monotonic() + 10
        while not control.sends() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(control.sends().values()) == 1    # done: the vendor holds the enrollment
        assert enroll(c, "clarky", "next@example.com").status_code == 201    # the hold was for one request
        held.join(timeout=0.5)
        assert held.is_alive() and answers == []     # but its answer waits
        control.set_faults(None)
        held.join(timeout=10)
    assert answers == [201]
    assert sum(control.sends().values()) == 2


def test_a_hold_lasts_at_most_its_seconds(server, control):
    control.set_faults({"script": [{"kind": "hold", "seconds": 0.3}]})
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c:
        start = time.monotonic()
        assert c.get("/clarky/api/v1/echo").status_code == 200
    assert time.monotonic() - start >= 0.3
