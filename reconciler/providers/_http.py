"""HTTP plumbing every adapter shares: one client per provider, typed errors, retries, error envelopes.

Choices:
- Reads and writes that are idempotent by construction are retried (429 after Retry-After, 5xx and
  transport errors, jittered exponential backoff, at most `max_attempts`). A write that is not
  idempotent is retried only when the request provably never reached the vendor (connect errors);
  any other lost answer raises OutcomeUnknown, so the caller resolves it by reading. Never blind.
- Pacing (a rolling 60 s window per budget) is in _limits.py; walking paginated lists in _paging.py.
- A 2xx is only proof when its body is the documented shape. A read answered with something else
  (not JSON, `{}`, no list key) raises MalformedResponse, never an empty list; a write answered so
  raises OutcomeUnknown (it may have been committed), resolved by reading like a lost answer.
- The API key is only ever in a header. Every message built here passes through `redact`, so even a
  vendor that echoes the key back cannot leak it into an exception, a log line or a plan file.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler import errors, secrets
from reconciler.model import ProviderConfig
from reconciler.providers._limits import STOP_POLL, RollingWindow, budgets_for, header_int
from reconciler.providers.spec import plain_envelope
from reconciler.urls import url_problem

log = logging.getLogger("campaignctl.http")
_HTTPX_LOG = logging.getLogger("httpx")  # an in-process request logs what httpx logs for any other

READ_METHODS = ("GET", "HEAD")
ERRORS_BY_STATUS: dict[int, type[errors.ProviderError]] = {
    400: errors.ValidationFailed, 401: errors.AuthError, 402: errors.PaymentRequired, 403: errors.AuthError,
    404: errors.NotFoundError, 409: errors.ConflictError, 422: errors.ValidationFailed,
}
# Transport errors raised before any byte of the request left: safe to retry even a non-idempotent write.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def redact(text: str, secret: str | None) -> str:
    """`text` with every rendering of the secret (and of every registered key) replaced."""
    return secrets.redact(text, (secret,))


def parse_envelope(vendor_type: str, body: Any) -> tuple[str | None, str, dict[str, Any], str | None]:
    """(code, message, details, tracking id) from a vendor error body, read by the vendor's own
    envelope parser (VendorSpec.envelope); tolerant of every documented shape."""
    from reconciler.providers import vendors  # imported on use: vendor packages import this module

    spec = vendors.find(vendor_type)
    return spec.envelope(body) if spec else plain_envelope(body)


@dataclass
class Reply:
    """A successful answer: status, parsed JSON (None for an empty body), headers, vendor request id."""

    status: int
    json: Any
    headers: Mapping[str, str]
    request_id: str | None


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
        # An in-process transport (the embedded sandbox) says so: it is handed each request directly.
        self._in_process = transport if getattr(transport, "in_process", False) else None
        self._prefix = str(self._http.base_url).rstrip("/") + "/"  # what every request path is joined to
        self._lock = threading.Lock()
        self.counts = {"read": 0, "write": 0}

    @classmethod
    def for_provider(cls, config: ProviderConfig, api_key: str, *, headers: Mapping[str, str],
                     transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> VendorClient:
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
            # Redacted whole, then cut: a key cut in two is no longer a rendering redact can find.
            snippet = " ".join(redact(resp.text, self._secret)[:80].split())
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
        url, rest = self._url(path, params)
        try:
            if self._in_process is None:
                resp = self._http.request(method, url, params=rest, json=json)
            else:
                resp = self._send_in_process(self._in_process, method, url, rest, json)
        except httpx.TransportError as exc:
            return None, exc
        else:
            budget.observe(resp.headers)
            return resp, None
        finally:
            budget.release()

    def _send_in_process(self, transport: httpx.BaseTransport, method: str, url: httpx.URL | str,
                         params: Mapping[str, Any] | None, json: Any) -> httpx.Response:
        """The request the client builds (same URL, headers, body), handed to an in-process transport and
        read whole, as `Client.request` does. Left out is only what has no meaning in process: a
        connection and its timeouts, redirects (never followed here) and the cookie jar (vendors
        authenticate by header; the sandbox sets no cookie), which cost a sandbox read 40% of its own time."""
        if self._http.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request = self._http.build_request(method, url, params=params, json=json)
        response = transport.handle_request(request)
        response.request = request
        response.read()
        _HTTPX_LOG.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url, response.http_version,
                        response.status_code, response.reason_phrase)  # the line httpx logs (-v)
        return response

    def _url(self, path: str, params: Mapping[str, Any]) -> tuple[httpx.URL | str, Mapping[str, Any] | None]:
        """The request's whole URL, parsed once: httpx would parse the path, the joined URL and the URL
        with its query in turn (three parses, the larger part of a sandbox read's own cost). The same
        URL as httpx joins it; a path httpx would read otherwise (`//host`, `?`, `#`) is left to httpx."""
        if not path.startswith("/") or path.startswith("//") or "?" in path or "#" in path:
            return path, params
        text = self._prefix + path.lstrip("/")
        if params:
            text += "?" + str(httpx.QueryParams(params))
        return httpx.URL(text), None

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
        code, message, details, tracking = parse_envelope(self.vendor_type, _json(resp, self._secret))
        status = resp.status_code
        cls = ERRORS_BY_STATUS.get(status)
        if cls is None:
            cls = (errors.RateLimitedError if status == 429 else errors.ServerError if status >= 500
                   else errors.ProviderError)
        kwargs: dict[str, Any] = {"code": code, "request_id": request_id or tracking, "details": details}
        if status == 429:
            kwargs["retry_after"] = header_int(resp.headers.get("retry-after"))
        if status >= 500 and not idempotent:
            # A 5xx on a write says nothing certain about whether it was committed: resolve by reading.
            cls = errors.OutcomeUnknown
        return cls(self.vendor, method, path, status, redact(message, self._secret), **kwargs)


def _json(resp: httpx.Response, secret: str | None) -> Any:
    """An error answer's body for parse_envelope (a non-JSON error page becomes its message, redacted
    before it is cut: a key cut in two is no longer a rendering redact can find)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return {"error": {"code": None, "message": redact(resp.text, secret)[:200]}}


def describe(body: Any) -> str:
    """A short, key-free description of a JSON body for error messages."""
    if body is None:
        return "an empty body"
    if isinstance(body, Mapping):
        return f"keys: {', '.join(sorted(map(str, body))[:8])}" if body else "an empty object {}"
    return f"a JSON {type(body).__name__}"
