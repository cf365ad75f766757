"""The shared HTTP client: typed errors per envelope, retry rules, pacing, pagination, redaction.

The vendor side here is a scripted httpx.MockTransport (a fake vendor, not a mock of our code);
time is a fake clock so pacing and Retry-After are asserted without sleeping.
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.model import ProviderConfig
from reconciler.providers._http import VendorClient, parse_envelope
from reconciler.providers._limits import RollingWindow
from reconciler.providers._paging import pages_cursor, pages_numbered
from tests.fakes import FakeTime

KEY = "ck_live_SECRETSECRETSECRETSECRET0000000"


def make_client(handler, vendor_type: str = "clarky", **limits: int) -> tuple[VendorClient, FakeTime, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))

    t = FakeTime()
    config = ProviderConfig(name="acct", type=vendor_type, base_url="https://vendor.test/api/v1",
                            rate_limit=tuple(sorted(limits.items())))
    client = VendorClient.for_provider(config, KEY, headers={"Authorization": f"Bearer {KEY}"},
                                       transport=httpx.MockTransport(record), sleep=t.sleep, clock=t.clock)
    return client, t, seen


def reply(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"x-request-id": "req_1", **headers})


@pytest.mark.parametrize("vendor_type,body,code,message,details", [
    ("clarky", {"error": {"code": "validation_error", "message": "bad field", "details": {"field": "x"}}},
     "validation_error", "bad field", {"field": "x"}),
    ("garyclub", {"error": "invalid_request", "message": "Either email or phone is required", "details": {"field": "email"}},
     "invalid_request", "Either email or phone is required", {"field": "email"}),
    ("kalent", {"success": False, "error": {"code": "forbidden", "message": "LinkedIn not connected",
                                            "debugTrackingCode": "dbg_1", "details": {"code": "channel_not_connected"}}},
     "forbidden", "LinkedIn not connected", {"code": "channel_not_connected"}),
    ("kalent", {"success": False, "error": "Rate limit exceeded: minute"}, None, "Rate limit exceeded: minute", {}),
])
def test_every_envelope_parses(vendor_type, body, code, message, details):
    got = parse_envelope(vendor_type, body)
    assert got[:3] == (code, message, details)


@pytest.mark.parametrize("status,cls", [
    (400, errors.ValidationFailed), (401, errors.AuthError), (402, errors.PaymentRequired), (403, errors.AuthError),
    (404, errors.NotFoundError), (409, errors.ConflictError), (422, errors.ValidationFailed),
])
def test_status_maps_to_typed_error_with_context(status, cls):
    client, _, seen = make_client(lambda req, n: reply(status, {"error": {"code": "c", "message": f"m {KEY}"}}))
    with pytest.raises(cls) as info:
        client.get("/contacts", {"page": 1})
    err = info.value
    assert (err.vendor, err.method, err.path, err.status, err.code, err.request_id) == ("acct", "GET", "/contacts", status, "c", "req_1")
    assert KEY not in str(err) and KEY not in repr(err.args) and "[REDACTED]" in str(err)
    assert len(seen) == 1  # 4xx is never retried


def test_get_retries_5xx_then_succeeds():
    client, t, seen = make_client(lambda req, n: reply(503, {"error": {"code": "internal_error", "message": "x"}}) if n < 3
                                  else reply(200, {"data": []}))
    assert client.get("/contacts").json == {"data": []}
    assert len(seen) == 3 and len(t.slept) == 2 and client.counts == {"read": 3, "write": 0}


def test_get_gives_up_after_max_attempts_with_server_error():
    client, _, seen = make_client(lambda req, n: reply(500, {"error": {"code": "internal_error", "message": "boom"}}))
    with pytest.raises(errors.ServerError):
        client.get("/contacts")
    assert len(seen) == 5


def test_429_honours_retry_after_even_for_non_idempotent_writes():
    client, t, seen = make_client(lambda req, n: reply(429, {"error": {"code": "rate_limited", "message": "slow"}}, **{"retry-after": "7"})
                                  if n == 1 else reply(202, {"data": {"ok": True}}))
    assert client.write("POST", "/sequences/start", {"a": 1}, idempotent=False).status == 202
    assert len(seen) == 2 and sum(t.slept) >= 7


def test_429_after_retries_is_rate_limited_error_with_retry_after():
    client, _, _ = make_client(lambda req, n: reply(429, {"error": {"code": "rate_limited", "message": "slow"}}, **{"retry-after": "1"}))
    with pytest.raises(errors.RateLimitedError) as info:
        client.get("/contacts")
    assert info.value.retry_after == 1


def test_non_idempotent_write_is_never_resent_after_a_lost_answer():
    def handler(req, n):
        raise httpx.ReadTimeout("lost", request=req)

    client, _, seen = make_client(handler)
    with pytest.raises(errors.OutcomeUnknown) as info:
        client.write("POST", "/start", {"x": 1}, idempotent=False)
    assert len(seen) == 1 and info.value.status is None


def test_non_idempotent_write_5xx_is_outcome_unknown_and_not_retried():
    client, _, seen = make_client(lambda req, n: reply(500, {"error": {"code": "internal_error", "message": "x"}}))
    with pytest.raises(errors.OutcomeUnknown):
        client.write("POST", "/start", {}, idempotent=False)
    assert len(seen) == 1


def test_connect_error_is_retried_even_for_non_idempotent_writes():
    def handler(req, n):
        if n == 1:
            raise httpx.ConnectError("refused", request=req)
        return reply(201, {"data": {"id": "x"}})

    client, _, seen = make_client(handler)
    assert client.write("POST", "/start", {}, idempotent=False).status == 201
    assert len(seen) == 2


def test_idempotent_write_is_retried_after_timeout():
    def handler(req, n):
        if n == 1:
            raise httpx.ReadTimeout("lost", request=req)
        return reply(200, {"data": {}})

    client, _, seen = make_client(handler)
    client.write("PATCH", "/cards/1", {"title": "t"}, idempotent=True)
    assert len(seen) == 2 and client.counts["write"] == 2


def test_pacing_keeps_to_the_configured_budget():
    client, t, seen = make_client(lambda req, n: reply(200, {"data": []}), reads_per_minute=10, writes_per_minute=5)
    for _ in range(25):
        client.get("/x")
    # 10 at once, the next 10 once the first ones' window (60 s + 1 s margin) has passed, the last 5 after another.
    assert len(seen) == 25 and 122 <= sum(t.slept) <= 123


def test_vendor_headers_correct_the_budget():
    t = FakeTime()
    window = RollingWindow(100, sleep=t.sleep, clock=t.clock)
    window.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}, wall=lambda: 1000.0)
    window.take()
    assert sum(t.slept) >= 30


def test_a_lower_vendor_count_holds_the_difference_for_a_window():
    t = FakeTime()
    window = RollingWindow(10, sleep=t.sleep, clock=t.clock)
    window.observe({"x-ratelimit-remaining": "3"})  # another client of the key used 7
    for _ in range(3):
        window.take()
        window.release()
    assert t.slept == []
    window.take()
    assert sum(t.slept) >= 60


def test_a_vendor_count_far_below_a_huge_configured_limit_is_adopted_at_once():
    t = FakeTime()
    window = RollingWindow(10**9, sleep=t.sleep, clock=t.clock)
    window.observe({"x-ratelimit-remaining": "5"})
    assert window.used() == 10**9 - 5


def _arrivals(limit: int, requests: int, seed: int, margin: float = 1.0) -> list[float]:
    """When a vendor sees each of `requests` sequential requests through a window of `limit`/min, with
    random latency on the way in and out (0-3 s each, so an answer can be slower than the next request)."""
    rng = random.Random(seed)
    t = FakeTime()
    window = RollingWindow(limit, sleep=t.sleep, clock=t.clock, margin=margin)
    seen: list[float] = []
    for _ in range(requests):
        window.take()
        t.now += rng.uniform(0, 3) if rng.random() < 0.3 else rng.uniform(0, 0.05)
        seen.append(t.now)
        t.now += rng.uniform(0, 3) if rng.random() < 0.3 else rng.uniform(0, 0.05)
        window.release()
    return seen


def _most_in_any_window(arrivals: list[float], span: float = 60.0) -> int:
    """The largest number of arrivals in any window [a, a + span) (a vendor forgets a hit `span` s later)."""
    return max(bisect.bisect_left(arrivals, a + span) - i for i, a in enumerate(arrivals))


@pytest.mark.parametrize("limit", [1, 7, 60, 120])
@pytest.mark.parametrize("seed", range(5))
def test_no_rolling_window_ever_holds_more_than_the_limit(limit, seed):
    arrivals = _arrivals(limit, limit * 6 + 3, seed)
    assert _most_in_any_window(arrivals) <= limit
    # from the first request on: the first minute is no exception
    assert sum(1 for a in arrivals if a < arrivals[0] + 60) <= limit


def test_steady_state_throughput_is_at_least_95_percent_of_the_limit():
    t = FakeTime()
    window = RollingWindow(60, sleep=t.sleep, clock=t.clock)
    arrivals: list[float] = []
    for _ in range(60 * 11):
        window.take()
        t.now += 0.02  # a 40 ms round trip
        arrivals.append(t.now)
        t.now += 0.02
        window.release()
    # the first 60 go at once; every later one is paced: 600 more over the time from the first to the last
    per_minute = (len(arrivals) - 60) / (arrivals[-1] - arrivals[0]) * 60
    assert 0.95 * 60 <= per_minute <= 60
    assert _most_in_any_window(arrivals) == 60


def test_a_slot_is_held_while_its_request_is_in_flight():
    t = FakeTime()
    window = RollingWindow(2, sleep=t.sleep, clock=t.clock)
    window.take()
    window.take()
    assert window.used() == 2
    t.now += 500  # still in flight (no answer yet): both slots stay taken
    assert window.used() == 2
    window.release()
    assert window.used() == 2  # answered now: held for one more span
    t.now += 61
    assert window.used() == 1


def test_gary_and_kalent_share_one_budget():
    client, t, _ = make_client(lambda req, n: reply(200, {}), vendor_type="garyclub", requests_per_minute=2)
    client.get("/a")
    client.write("POST", "/b", {}, idempotent=True)
    assert t.slept == []
    client.get("/c")
    assert sum(t.slept) > 0


def test_the_key_travels_only_in_the_header():
    client, _, seen = make_client(lambda req, n: reply(200, {"data": []}))
    client.get("/contacts", {"page": 1})
    assert KEY not in str(seen[0].url) and seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_pages_numbered_walks_until_a_short_page():
    rows = [{"id": i} for i in range(250)]

    def handler(req, n):
        page, size = int(req.url.params["page"]), int(req.url.params["page_size"])
        return reply(200, {"data": rows[(page - 1) * size: page * size]})

    client, _, seen = make_client(handler)
    assert [r["id"] for r in pages_numbered(client, "/cards", {"pipeline_id": "p"})] == list(range(250))
    assert len(seen) == 3 and seen[0].url.params["pipeline_id"] == "p"


def test_pages_cursor_follows_tokens():
    def handler(req, n):
        token = req.url.params.get("page_token")
        return reply(200, {"data": [{"id": token or "first"}], "next_page_token": None if token == "t2" else ("t1" if not token else "t2")})

    client, _, seen = make_client(handler, vendor_type="garyclub")
    assert [r["id"] for r in pages_cursor(client, "/crm/contacts")] == ["first", "t1", "t2"]
    assert [r.url.params["limit"] for r in seen] == ["200"] * 3


@pytest.mark.parametrize("method,cls", [("GET", errors.MalformedResponse), ("POST", errors.OutcomeUnknown)])
def test_a_2xx_that_is_not_json_is_no_answer_an_error_for_a_read_and_in_doubt_for_a_write(method, cls):
    page = f"<html><body>Maintenance {KEY}</body></html>"
    client, _, seen = make_client(lambda req, n: httpx.Response(200, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(cls) as caught:
        client.get("/things") if method == "GET" else client.write("POST", "/things", json={}, idempotent=False)
    text = str(caught.value)
    assert text.startswith(f"acct: {method} /things -> 200") and "not JSON (text/html" in text
    assert KEY not in text and len(seen) == 1  # never retried, never leaks the key


@pytest.mark.parametrize("body", [None, {}, {"pagination": {"total_pages": 1}}, {"data": {"not": "a list"}}])
def test_a_list_page_without_its_documented_list_is_malformed_never_empty(body):
    client, _, _ = make_client(lambda req, n: reply(200, body))
    with pytest.raises(errors.MalformedResponse, match=r"acct: GET /things -> 200: answered 200 without the "
                                                       r"documented 'data' list"):
        list(pages_numbered(client, "/things"))
    with pytest.raises(errors.MalformedResponse):
        list(pages_cursor(client, "/things"))

# -- an interrupted apply: the stop event keeps every further request from leaving -------------------
def stoppable_client(handler, stop, *, on_sleep=None, **limits: int) -> tuple[VendorClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))

    t = FakeTime()

    def sleep(seconds: float) -> None:
        if on_sleep:
            on_sleep()
        t.sleep(seconds)

    config = ProviderConfig(name="acct", type="clarky", base_url="https://vendor.test/api/v1",
                            rate_limit=tuple(sorted(limits.items())))
    client = VendorClient.for_provider(config, KEY, headers={}, transport=httpx.MockTransport(record),
                                       sleep=sleep, clock=t.clock, stop=stop)
    return client, seen


def test_once_stopped_no_request_leaves_and_the_error_says_nothing_was_sent():
    import threading

    stop = threading.Event()
    client, seen = stoppable_client(lambda req, n: reply(200, {}), stop)
    client.write("POST", "/sequences/start", {}, idempotent=True)
    stop.set()
    with pytest.raises(errors.Interrupted, match="not sent"):
        client.write("POST", "/sequences/start", {}, idempotent=True)
    with pytest.raises(errors.Interrupted):
        client.get("/contacts")
    assert len(seen) == 1


def test_a_write_waiting_for_its_budget_when_stopped_is_not_sent():
    import threading

    stop = threading.Event()
    # the signal arrives while the second write waits for a token
    client, seen = stoppable_client(lambda req, n: reply(200, {}), stop, on_sleep=stop.set, writes_per_minute=1)
    client.write("POST", "/a", {}, idempotent=False)
    with pytest.raises(errors.Interrupted):
        client.write("POST", "/b", {}, idempotent=False)
    assert [r.url.path for r in seen] == ["/api/v1/a"]


@pytest.mark.parametrize("first,error", [(503, errors.OutcomeUnknown), (429, errors.Interrupted)])
def test_a_retry_cut_short_by_a_stop_is_in_doubt_only_when_the_first_attempt_may_have_committed(first, error):
    import threading

    stop = threading.Event()

    def handler(req, n):
        stop.set()  # the signal arrives while the first attempt is answered
        return reply(first, {"error": {"code": "x", "message": "busy"}}, **{"retry-after": "1"})

    client, seen = stoppable_client(handler, stop)
    with pytest.raises(error):
        client.write("POST", "/sequences/start", {}, idempotent=True)
    assert len(seen) == 1


@pytest.mark.parametrize("status,method,cut", [(200, "POST", 80), (503, "GET", 200), (502, "POST", 200)])
def test_a_page_echoing_the_key_across_the_cut_leaks_none_of_it(status, method, cut):
    """An HTML page (a proxy, a maintenance page) that echoes the Authorization header so that the key
    straddles where the message cuts the page: redacted whole first, no part of the key shows."""
    filler = "x" * (cut - 20)
    page = f"<html>{filler} Bearer {KEY} </html>"
    assert page.index(KEY) < cut < page.index(KEY) + len(KEY)
    client, _, _ = make_client(lambda req, n: httpx.Response(status, text=page, headers={"content-type": "text/html"}))
    client._max_attempts = 1
    with pytest.raises(errors.ProviderError) as info:
        client.write(method, "/sequences/start", {}, idempotent=False) if method == "POST" else client.get("/contacts")
    shown = str(info.value) + repr(info.value.args)
    assert KEY[:8] not in shown and "[RED" in shown, shown
