"""A transport that says it is in process (the embedded sandbox) is handed each request directly:
the same requests leave, byte for byte, and the same answers and errors come back as through
httpx.Client; only the cookie jar is left out (vendors authenticate by header)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.model import ProviderConfig
from reconciler.providers._http import VendorClient
from reconciler.sandbox.transport import SandboxTransport
from tests.fakes import FakeTime

KEY = "gc_live_SECRETSECRETSECRETSECRET0000000"


class Vendor(httpx.MockTransport):
    """A scripted vendor that records what reached it; `in_process` as the embedded sandbox says it."""

    def __init__(self, handler: Callable[[httpx.Request, int], httpx.Response], *, in_process: bool) -> None:
        self.seen: list[httpx.Request] = []
        self.in_process = in_process

        def record(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return handler(request, len(self.seen))

        super().__init__(record)


def _script(request: httpx.Request, n: int) -> httpx.Response:
    path = request.url.path
    if path.endswith("/missing"):
        return httpx.Response(404, json={"error": {"code": "not_found", "message": f"no such thing ({KEY})"}})
    if path.endswith("/flaky") and n % 2:
        return httpx.Response(503, text="busy")
    if path.endswith("/lost"):
        raise httpx.ReadTimeout("lost", request=request)
    if path.endswith("/refused"):
        raise httpx.ConnectError("refused", request=request)
    if path.endswith("/html"):
        return httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"})
    if path.endswith("/empty"):
        return httpx.Response(204)
    body = {"method": request.method, "query": request.url.query.decode(), "got": request.content.decode()}
    return httpx.Response(200, json=body, headers={"x-request-id": f"req_{n}", "set-cookie": "lb=node-7; Path=/"})


def _client(vendor: Vendor) -> VendorClient:
    t = FakeTime()
    config = ProviderConfig(name="acct", type="garyclub", base_url="https://vendor.test/api/v1")
    return VendorClient.for_provider(config, KEY, headers={"Authorization": f"Bearer {KEY}"}, transport=vendor,
                                     sleep=t.sleep, clock=t.clock, max_attempts=3)


def _calls(client: VendorClient) -> list[Any]:
    """Every kind of answer once: a read with parameters, writes with bodies, a 404, a 5xx retried,
    a lost answer (read retried, write unknown), a refused connection, a body that is not JSON."""
    out: list[Any] = []
    for call in (lambda: client.get("/contacts", {"page": 2, "q": "a b/é", "none": None}),
                 lambda: client.write("POST", "/enrollments", {"contact": "c_1", "note": "é"}, idempotent=False),
                 lambda: client.write("PATCH", "/deals/d_1", {"stage": "won"}, idempotent=True),
                 lambda: client.get("/empty"),
                 lambda: client.get("/missing"),
                 lambda: client.get("/flaky"),
                 lambda: client.get("/lost"),
                 lambda: client.write("POST", "/lost", {"x": 1}, idempotent=False),
                 lambda: client.write("POST", "/refused", {"x": 1}, idempotent=False),
                 lambda: client.get("/html"),
                 lambda: client.get("/contacts")):
        try:
            reply = call()
        except errors.ProviderError as exc:
            out.append((type(exc).__name__, str(exc), exc.status))
        else:
            out.append((reply.status, reply.json, reply.request_id, dict(reply.headers)))
    return out


def _wire(request: httpx.Request) -> tuple[Any, ...]:
    """What reached the vendor, but for the cookie header."""
    return (request.method, str(request.url), [(k, v) for k, v in request.headers.raw if k.lower() != b"cookie"],
            request.content)


def _cookies(request: httpx.Request) -> list[bytes]:
    return [v for k, v in request.headers.raw if k.lower() == b"cookie"]


def test_an_in_process_transport_gets_the_requests_httpx_sends_and_gives_the_same_answers() -> None:
    through_httpx, in_process = Vendor(_script, in_process=False), Vendor(_script, in_process=True)
    expected = _calls(_client(through_httpx))
    assert _calls(_client(in_process)) == expected
    assert {one[0] for one in expected} >= {200, 204, "NotFoundError", "ServerError", "OutcomeUnknown",
                                            "MalformedResponse"}
    assert [_wire(r) for r in in_process.seen] == [_wire(r) for r in through_httpx.seen]
    # httpx sends back the cookie the vendor set; that is the one thing the in-process path leaves out
    assert _cookies(through_httpx.seen[-1]) == [b"lb=node-7"]
    assert [c for r in in_process.seen for c in _cookies(r)] == []


def test_a_closed_client_sends_nothing_in_process() -> None:
    vendor = Vendor(_script, in_process=True)
    client = _client(vendor)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/contacts")
    assert vendor.seen == []


def test_the_embedded_sandbox_is_in_process() -> None:
    assert SandboxTransport.in_process is True
