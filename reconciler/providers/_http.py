"""HTTP plumbing every adapter shares: one client per provider, typed errors, retries, pacing, pages.

Choices:
- Reads and writes that are idempotent by construction are retried (429 after Retry-After, 5xx and
  transport errors, jittered exponential backoff, at most `max_attempts`). A write that is not
  idempotent is retried only when the request provably never reached the vendor (connect errors);
  any other lost answer raises OutcomeUnknown, so the caller resolves it by reading. Never blind.
- Pacing is a rolling 60 s window per budget (Clarky: read + write; Gary Club, Kalent: one shared):
  never more than the per-minute limit in any 60 s, from the first request on, whether or not the
  vendor sends headers (Gary Club and Kalent send none); corrected by `X-RateLimit-Remaining` /
  `X-RateLimit-Reset` when the vendor sends them (the vendor's count wins: other clients may share
  the key). A token bucket that starts full and refills continuously lets nearly twice the limit
  through in the first minute, which a sliding-window vendor answers with 429s.
- A 2xx is only proof when its body is the documented shape. A read answered with something else
  (not JSON, `{}`, no list key) raises MalformedResponse, never an empty list; a write answered so
  raises OutcomeUnknown (it may have been committed), resolved by reading like a lost answer.
- The API key is only ever in a header. Every message built here passes through `redact`, so even a
  vendor that echoes the key back cannot leak it into an exception, a log line or a plan file.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import httpx

from reconciler import errors, secrets
from reconciler.model import DEFAULT_RATE_LIMITS, ProviderConfig
from reconciler.urls import url_problem

log = logging.getLogger("campaignctl.http")

READ_METHODS = ("GET", "HEAD")
ERRORS_BY_STATUS: dict[int, type[errors.ProviderError]] = {
    400: errors.ValidationFailed, 401: errors.AuthError, 402: errors.PaymentRequired, 403: errors.AuthError,
    404: errors.NotFoundError, 409: errors.ConflictError, 422: errors.ValidationFailed,
}
# Transport errors raised before any byte of the request left: safe to retry even a non-idempotent write.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
STOP_POLL = 0.2  # seconds between looks at the stop event while waiting (budget, back-off)


def redact(text: str, secret: str | None) -> str:
    """`text` with every rendering of the secret (and of every registered key) replaced."""
    return secrets.redact(text, (secret,))


def parse_envelope(vendor_type: str, body: Any) -> tuple[str | None, str, dict[str, Any], str | None]:
    """(code, message, details, tracking id) from a vendor error body; tolerant of every documented shape.

    Clarky  {"error": {"code", "message", "details"}}
    Gary    {"error": "code", "message", "details"}
    Kalent  {"success": false, "error": {"code", "message", "debugTrackingCode", "details"}} or
            the older {"success": false, "error": "Rate limit exceeded: ..."}
    """
    if not isinstance(body, Mapping):
        return None, "no error body", {}, None
    err = body.get("error")
    if isinstance(err, Mapping):
        details = err.get("details") if isinstance(err.get("details"), Mapping) else {}
        return err.get("code"), str(err.get("message") or err.get("code") or "error"), dict(details), err.get("debugTrackingCode")
    details = body.get("details") if isinstance(body.get("details"), Mapping) else {}
    if isinstance(err, str):
        if vendor_type == "kalent" and "message" not in body:
            return None, err, dict(details), None
        return err, str(body.get("message") or err), dict(details), None
    return None, str(body.get("message") or "error"), dict(details), None


@dataclass
class Reply:
    """A successful answer: status, parsed JSON (None for an empty body), headers, vendor request id."""

    status: int
    json: Any
    headers: Mapping[str, str]
    request_id: str | None


class RollingWindow:
    """A budget of `limit` requests in any rolling `window` seconds, held from the very first request.

    A request occupies its slot from the moment it is let through until `window` (+ `margin`) seconds
    after its answer came back, so the vendor, whatever the latency, can never count more than `limit`
    arrivals in any window of its own: a request arrives after it was let through, and the one
    whose slot it reuses arrived before its answer came. `margin` absorbs a vendor that counts in
    whole seconds. Vendor headers (`X-RateLimit-*`, where sent) and Retry-After can only make it
    stricter: the vendor's count wins, other clients may share the key.
    """

    def __init__(self, limit: int, *, sleep: Callable[[float], None], clock: Callable[[], float],
                 window: float = 60.0, margin: float = 1.0) -> None:
        self.limit = max(1, int(limit))
        self.span = window + margin  # how long a finished request keeps its slot
        self._sleep = sleep
        self._clock = clock
        # (answer time, slots): monotonic, so sorted, newest last; slots > 1 only for a vendor's correction
        self._finished: deque[tuple[float, int]] = deque()
        self._held = 0  # sum of the slots in _finished
        self._in_flight = 0
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    @property
    def per_minute(self) -> int:
        return self.limit

    def take(self, stop: threading.Event | None = None) -> float | None:
        """Wait until a slot is free and occupy it; returns the seconds waited. Pair with `release()`.
        None when `stop` was set while waiting: then no slot was taken (and none may be released)."""
        waited = 0.0
        while True:
            if stop is not None and stop.is_set():
                return None
            with self._lock:
                now = self._clock()
                self._expire(now)
                if now >= self._blocked_until and self._in_flight + self._held < self.limit:
                    self._in_flight += 1
                    return waited
                if now < self._blocked_until:
                    delay = self._blocked_until - now
                elif self._finished:
                    delay = self._finished[0][0] + self.span - now
                else:  # every slot is held by a request still in flight (other threads): poll
                    delay = 0.05
            delay = max(delay, 0.001)
            if stop is not None:
                delay = min(delay, STOP_POLL)  # look at `stop` a few times a second
            self._sleep(delay)
            waited += delay

    def release(self) -> None:
        """The request let through by `take()` has its answer (or failed): its slot expires one span from now."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._hold(self._clock(), 1)

    def used(self) -> int:
        """Slots held right now (in flight or within a span of their answer)."""
        with self._lock:
            self._expire(self._clock())
            return self._in_flight + self._held

    def observe(self, headers: Mapping[str, str], wall: Callable[[], float] = time.time) -> None:
        """Adopt the vendor's own count where it sends one: fewer left than we think means someone else
        uses the key, so the difference is held for a full span; none left means wait for its reset."""
        remaining = _int(headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return
        with self._lock:
            now = self._clock()
            self._expire(now)
            free = self.limit - self._in_flight - self._held
            if free > max(0, remaining):
                self._hold(now, free - max(0, remaining))
            reset = _int(headers.get("x-ratelimit-reset"))
            if remaining <= 0 and reset is not None:
                self._blocked_until = max(self._blocked_until, now + max(0.0, reset - wall()))

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends on this budget before Retry-After has passed."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def _hold(self, now: float, slots: int) -> None:
        self._finished.append((now, slots))
        self._held += slots

    def _expire(self, now: float) -> None:
        while self._finished and self._finished[0][0] + self.span <= now:
            self._held -= self._finished.popleft()[1]


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def budgets_for(config: ProviderConfig, *, sleep: Callable[[float], None], clock: Callable[[], float]) -> dict[str, RollingWindow]:
    """{'read': bucket, 'write': bucket}; the same bucket twice for vendors with one budget."""
    limits = {**DEFAULT_RATE_LIMITS.get(config.type, {}), **config.limits()}
    if "requests_per_minute" in limits and not ("reads_per_minute" in config.limits() or "writes_per_minute" in config.limits()):
        shared = RollingWindow(limits["requests_per_minute"], sleep=sleep, clock=clock)
        return {"read": shared, "write": shared}
    return {"read": RollingWindow(limits.get("reads_per_minute", 60), sleep=sleep, clock=clock),
            "write": RollingWindow(limits.get("writes_per_minute", 60), sleep=sleep, clock=clock)}


class VendorClient:
    """One vendor account over httpx: paced, retried where safe, errors typed and redacted."""

    def __init__(self, vendor: str, vendor_type: str, base_url: str, headers: Mapping[str, str], *,
                 secret: str | None, budgets: Mapping[str, RollingWindow], transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0, max_attempts: int = 5, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, stop: threading.Event | None = None) -> None:
        """`stop`, once set (apply was interrupted), keeps every further request from leaving: one that
        has not been sent raises Interrupted; a retry of a write that may have been committed raises
        OutcomeUnknown, so the journal keeps it in doubt for the next run."""
        self.vendor = vendor
        self._stop = stop
        self.vendor_type = vendor_type
        self._secret = secret
        secrets.register(secret)
        if transport is None and url_problem(base_url):  # validate refuses it first; never send a key in clear
            raise errors.ConfigError(f"provider {vendor!r}: base_url {url_problem(base_url)}")
        self._budgets = budgets
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=dict(headers), transport=transport,
                                  timeout=timeout, follow_redirects=False)
        self._lock = threading.Lock()
        self.counts = {"read": 0, "write": 0}

    @classmethod
    def for_provider(cls, config: ProviderConfig, api_key: str, *, headers: Mapping[str, str],
                     transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> "VendorClient":
        """The client for a configured provider; `headers` carry the vendor's auth header."""
        budgets = budgets_for(config, sleep=sleep, clock=clock)
        return cls(config.name, config.type, config.base_url, {"accept": "application/json", **headers},
                   secret=api_key, budgets=budgets, transport=transport, timeout=config.timeout_seconds,
                   sleep=sleep, **kwargs)

    # -- public -------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """A read; retried on 429, 5xx and transport errors."""
        return self._send("GET", path, params=params, json=None, idempotent=True)

    def write(self, method: str, path: str, json: Any = None, *, idempotent: bool,
              params: Mapping[str, Any] | None = None) -> Reply:
        """A write. `idempotent=True` only when repeating it cannot change anything (keyed, or a PATCH to
        target values); otherwise a lost answer raises OutcomeUnknown and is never re-sent."""
        return self._send(method.upper(), path, params=params, json=json, idempotent=idempotent)

    def close(self) -> None:
        self._http.close()

    # -- internals ------------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any, idempotent: bool) -> Reply:
        kind = "read" if method in READ_METHODS else "write"
        budget = self._budgets[kind]
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        maybe_committed = False  # an earlier attempt of this write may have taken effect
        for attempt in range(1, self._max_attempts + 1):
            self._check_stop(method, path, kind == "write" and maybe_committed)
            with self._lock:
                self.counts[kind] += 1
            started = time.monotonic()
            resp, exc = self._exchange(budget, method, path, clean_params, json, kind == "write" and maybe_committed)
            if exc is not None:
                retryable = idempotent or isinstance(exc, NEVER_SENT)
                maybe_committed = maybe_committed or not isinstance(exc, NEVER_SENT)
                log.info("%s %s %s: %s (attempt %d)", self.vendor, method, path, type(exc).__name__, attempt)
                if retryable and attempt < self._max_attempts:
                    self._pause(self._backoff(attempt))
                    continue
                cls = errors.ServerError if retryable else errors.OutcomeUnknown
                what = "no response" if not retryable else f"gave up after {attempt} attempts"
                raise cls(self.vendor, method, path, None,
                          redact(f"{type(exc).__name__}: {exc} ({what})", self._secret)) from None
            assert resp is not None
            request_id = resp.headers.get("x-request-id")
            log.debug("%s %s %s -> %d in %.0f ms (%s)", self.vendor, method, path, resp.status_code,
                      (time.monotonic() - started) * 1000, request_id)
            if resp.status_code < 400:
                return Reply(resp.status_code, self._success_json(method, path, resp, request_id),
                             resp.headers, request_id)
            maybe_committed = maybe_committed or resp.status_code >= 500
            retry_in = self._retry_delay(resp, attempt, idempotent)
            if retry_in is not None and attempt < self._max_attempts:
                log.info("%s %s %s -> %d, retrying in %.1fs", self.vendor, method, path, resp.status_code, retry_in)
                if resp.status_code == 429:
                    budget.block_for(retry_in)
                else:
                    self._pause(retry_in)
                continue
            raise self._error(method, path, resp, request_id, idempotent)
        raise AssertionError("unreachable")  # the loop either returns or raises

    def _success_json(self, method: str, path: str, resp: httpx.Response, request_id: str | None) -> Any:
        """The parsed body of a 2xx; a body that is not JSON is no answer at all (see the module notes)."""
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            kind = resp.headers.get("content-type", "no content type").split(";")[0]
            snippet = " ".join(resp.text[:80].split())
            text = redact(f"answered {resp.status_code} with a body that is not JSON ({kind}: {snippet!r})",
                          self._secret)
            if method in READ_METHODS:
                raise errors.MalformedResponse(self.vendor, method, path, resp.status_code,
                                               text + "; it proves nothing, so nothing is planned from it",
                                               request_id=request_id) from None
            raise errors.OutcomeUnknown(self.vendor, method, path, resp.status_code,
                                        text + "; the write may have been committed: resolved by reading",
                                        request_id=request_id) from None

    def malformed(self, path: str, reply: Reply, what: str, method: str = "GET") -> errors.MalformedResponse:
        """The error for a 2xx read whose JSON lacks what the vendor documents (`what`)."""
        return errors.MalformedResponse(
            self.vendor, method, path, reply.status,
            redact(f"answered {reply.status} without {what} ({describe(reply.json)}); it proves nothing, "
                   "so nothing is planned from it", self._secret), request_id=reply.request_id)

    def _exchange(self, budget: RollingWindow, method: str, path: str, params: Mapping[str, Any], json: Any,
                  maybe_committed: bool) -> tuple[httpx.Response | None, httpx.TransportError | None]:
        """One request inside the budget: its slot is held from before sending until after the answer."""
        if budget.take(self._stop) is None:  # the stop came while waiting for the budget: raises
            self._check_stop(method, path, maybe_committed)
        try:
            resp = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            return None, exc
        else:
            budget.observe(resp.headers)
            return resp, None
        finally:
            budget.release()

    def _check_stop(self, method: str, path: str, maybe_committed: bool) -> None:
        """Once a stop was asked for, raise: Interrupted when nothing of this request can have taken
        effect, OutcomeUnknown when an earlier attempt of this write may have."""
        if self._stop is None or not self._stop.is_set():
            return
        if maybe_committed:
            raise errors.OutcomeUnknown(self.vendor, method, path, None, "apply was interrupted while retrying; an "
                                        "earlier attempt may have taken effect (the next run settles it)")
        raise errors.Interrupted(self.vendor, method, path, None, "apply was interrupted; this request was not sent",
                                 code="interrupted")

    def _pause(self, seconds: float) -> None:
        """Sleep before a retry; in slices while a stop event exists, so an interrupt is not held up."""
        if self._stop is None:
            self._sleep(seconds)
            return
        left = seconds
        while left > 0 and not self._stop.is_set():
            self._sleep(min(left, STOP_POLL))
            left -= STOP_POLL

    def _retry_delay(self, resp: httpx.Response, attempt: int, idempotent: bool) -> float | None:
        """Seconds to wait before retrying, or None when this answer must not be retried."""
        status = resp.status_code
        if status == 429:  # the vendor refused before doing anything: safe even for non-idempotent writes
            after = resp.headers.get("retry-after")
            try:
                return max(0.0, float(after)) if after is not None else self._backoff(attempt)
            except ValueError:
                return self._backoff(attempt)
        if status >= 500 and idempotent:
            return self._backoff(attempt)
        return None

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: 0.5 s, 1 s, 2 s, ... capped at 30 s."""
        return self._rng.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))

    def _error(self, method: str, path: str, resp: httpx.Response, request_id: str | None,
               idempotent: bool) -> errors.ProviderError:
        code, message, details, tracking = parse_envelope(self.vendor_type, _json(resp))
        status = resp.status_code
        cls = ERRORS_BY_STATUS.get(status)
        if cls is None:
            cls = errors.RateLimitedError if status == 429 else errors.ServerError if status >= 500 else errors.ProviderError
        kwargs: dict[str, Any] = {"code": code, "request_id": request_id or tracking, "details": details}
        if status == 429:
            kwargs["retry_after"] = _int(resp.headers.get("retry-after"))
        if status >= 500 and not idempotent:
            # A 5xx on a write says nothing certain about whether it was committed: resolve by reading.
            cls = errors.OutcomeUnknown
        return cls(self.vendor, method, path, status, redact(message, self._secret), **kwargs)


def _json(resp: httpx.Response) -> Any:
    """An error answer's body for parse_envelope (a non-JSON error page becomes its message)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return {"error": {"code": None, "message": resp.text[:200]}}


# Without a listed total, a list longer than this many pages is taken as one that never ends.
MAX_PAGES = 10_000


class PageGuard:
    """Bounds one walk over a list: a cursor or a non-empty page seen before, or more pages than the
    largest total the vendor listed allows, is a PaginationError instead of another request (one
    vendor's list answered the same cursor for ever: 22,000 requests in 30 s)."""

    SLACK_PAGES = 2  # records created while we page may add a page; the empty last page is one more

    def __init__(self, client: "VendorClient", path: str, total: Callable[[Any], int | None] | None) -> None:
        self._client = client
        self._path = path
        self._total = total
        self._most = -1  # the largest total listed so far
        self._pages = 0
        self._largest_page = 0
        self._seen_pages: set[str] = set()
        self._seen_tokens: set[str] = set()

    def page(self, body: Any, items: list[Any]) -> None:
        """Check one page just received."""
        self._pages += 1
        if items:
            fingerprint = _fingerprint(items)
            if fingerprint in self._seen_pages:
                self._fail(f"page {self._pages} repeats an earlier page")
            self._seen_pages.add(fingerprint)
        self._largest_page = max(self._largest_page, len(items))
        listed = self._total(body) if self._total else None
        if listed is not None:
            self._most = max(self._most, listed)
        if self._most >= 0:
            allowed = -(-self._most // max(1, self._largest_page)) + self.SLACK_PAGES
            if self._pages > allowed:
                self._fail(f"{self._pages} pages, more than its listed total of {self._most} allows")
        elif self._pages > MAX_PAGES:
            self._fail(f"more than {MAX_PAGES:,} pages and no total listed")

    def token(self, token: str) -> None:
        """Check the cursor the page handed out before asking for it."""
        if token in self._seen_tokens:
            self._fail(f"page {self._pages} hands out a cursor it handed out before")
        self._seen_tokens.add(token)

    def _fail(self, why: str) -> None:
        raise errors.PaginationError(self._client.vendor, "GET", self._path, 200,
                                     f"the list does not end: {why}; stopped after {self._pages} requests "
                                     "(the vendor's pagination is broken; nothing was written)",
                                     code="endless_pagination")


def _fingerprint(items: list[Any]) -> str:
    return hashlib.sha256(jsonlib.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def describe(body: Any) -> str:
    """A short, key-free description of a JSON body for error messages."""
    if body is None:
        return "an empty body"
    if isinstance(body, Mapping):
        return f"keys: {', '.join(sorted(map(str, body))[:8])}" if body else "an empty object {}"
    return f"a JSON {type(body).__name__}"


def field_at(body: Any, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key ('data.sourcings') in a JSON body."""
    node = body
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def list_at(client: VendorClient, path: str, reply: Reply, key: str) -> list[Any]:
    """The documented list under `key`; MalformedResponse when it is missing or not a list."""
    present, value = field_at(reply.json, key)
    if not present or not isinstance(value, list):
        raise client.malformed(path, reply, f"the documented {key!r} list")
    return value


def object_at(client: VendorClient, path: str, reply: Reply, key: str) -> Mapping[str, Any]:
    """The documented object under `key`; MalformedResponse when it is missing or not an object."""
    present, value = field_at(reply.json, key)
    if not present or not isinstance(value, Mapping):
        raise client.malformed(path, reply, f"the documented {key!r} object")
    return value


def pages_numbered(client: VendorClient, path: str, params: Mapping[str, Any] | None = None, *,
                   page_param: str = "page", size_param: str = "page_size", size: int = 100, first_page: int = 1,
                   items_key: str = "data", more: Callable[[Any, list[Any], int], bool] | None = None,
                   total: Callable[[Any], int | None] | None = None) -> Iterator[Any]:
    """Every item of a page-numbered list. `more(body, items, page)` says whether another page exists;
    by default a full page means there may be more. `total(body)` is the vendor's listed total, which
    bounds the walk (see PageGuard). A page without the documented list is MalformedResponse."""
    page = first_page
    guard = PageGuard(client, path, total)
    while True:
        reply = client.get(path, {**(params or {}), page_param: page, size_param: size})
        body = reply.json
        items = list_at(client, path, reply, items_key)
        guard.page(body, items)
        yield from items
        has_more = more(body, items, page) if more else len(items) >= size
        if not has_more or not items:
            return
        page += 1


def pages_cursor(client: VendorClient, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 200,
                 limit_param: str = "limit", token_param: str = "page_token", next_key: str = "next_page_token",
                 items_key: str = "data", total: Callable[[Any], int | None] | None = None) -> Iterator[Any]:
    """Every item of a cursor-paginated list; `total(body)` as for pages_numbered."""
    token: str | None = None
    guard = PageGuard(client, path, total)
    while True:
        query = {**(params or {}), limit_param: limit}
        if token:
            query[token_param] = token
        reply = client.get(path, query)
        body = reply.json
        items = list_at(client, path, reply, items_key)
        guard.page(body, items)
        yield from items
        token = body.get(next_key)  # list_at proved the body is an object
        if not token:
            return
        guard.token(str(token))


def listed_total(body: Any, key: str) -> int | None:
    """The integer at the dotted `key` of a list body (e.g. 'pagination.total'), None if absent or not one."""
    present, node = field_at(body, key)
    return node if present and isinstance(node, int) and not isinstance(node, bool) and node >= 0 else None
