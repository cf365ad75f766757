"""Clarky plumbing every endpoint shares: auth and scopes, the error envelope, rate limits,
X-Request-Id, page/page_size pagination and request validation helpers.

Rate-limit headers go on every response, 401s included (documented: "every response"); a refused
credential is counted in a bucket of its own. X-RateLimit-Reset is wall-clock Unix seconds even
after `sandbox advance` (a client compares it with its own clock). A method a documented path
does not list answers 404 not_found, like an unknown path (no 405 is documented).
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from reconciler.sandbox.core import Collection, SimRequest, SimResponse, Simulator, parse_iso

READ_METHODS = frozenset({"GET", "HEAD"})
DEFAULT_READS_PER_MINUTE = 120
DEFAULT_WRITES_PER_MINUTE = 60
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
BOTH_SCOPES = frozenset({"read", "write"})


class ApiError(Exception):
    """Raised by handlers; dispatch turns it into Clarky's error envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def missing(field: str) -> ApiError:
    """400 for a missing required field (the documented meaning of 400 on sequences/start)."""
    return ApiError(400, "bad_request", f"Missing required field: {field}.", {"field": field})


def invalid(field: str, message: str) -> ApiError:
    """422 validation_error naming the field, as the errors page documents (`details.field`)."""
    return ApiError(422, "validation_error", message, {"field": field})


def _configured_keys(raw: Any) -> dict[str, frozenset[str]]:
    """`config.keys` as {key: scopes}; accepts {key: [scopes]} or [{key:, scopes:}]."""
    if isinstance(raw, dict):
        return {str(k): frozenset(v or ()) for k, v in raw.items()}
    return {str(item["key"]): frozenset(item.get("scopes") or BOTH_SCOPES) for item in raw or []}


class ClarkyBase(Simulator):
    """Auth, envelopes, rate limits and pagination; endpoint mixins build on this."""

    vendor = "clarky"
    root = "/api/v1"
    page_query = ("page",)

    def coll(self, name: str) -> Collection:
        """The store collection `clarky.<name>`."""
        return self.store.collection(f"clarky.{name}")

    # -- envelope ---------------------------------------------------------------------------------
    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        err: dict[str, Any] = {"code": code, "message": message}
        if details:
            err["details"] = details
        resp = SimResponse(status, {"error": err}, {"X-Request-Id": _request_id()})
        if status == 429:
            # documented on every 429 (injected ones too); rate_limit() sets the real value
            resp.headers["Retry-After"] = "1"
        return resp

    # -- auth ---------------------------------------------------------------------------------------
    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith("ck_live_"):
            return self.error(401, "unauthorized", "Missing or malformed API key."), ""
        if self.config.get("keys") is not None and key not in _configured_keys(self.config["keys"]):
            return self.error(401, "unauthorized", "Invalid or revoked API key."), ""
        return None, key

    def scopes(self, key: str) -> frozenset[str]:
        """Scopes of an authenticated key: configured ones, else read and write."""
        if self.config.get("keys") is None:
            return BOTH_SCOPES
        return _configured_keys(self.config["keys"]).get(key, frozenset())

    # -- rate limits ----------------------------------------------------------------------------------
    def _limits(self) -> tuple[int, int]:
        conf = self.config.get("rate_limits") or {}
        return (
            int(conf.get("reads_per_minute", DEFAULT_READS_PER_MINUTE)),
            int(conf.get("writes_per_minute", DEFAULT_WRITES_PER_MINUTE)),
        )

    def rate_limit(self, req: SimRequest, key: str) -> tuple[SimResponse | None, dict[str, str]]:
        reads, writes = self._limits()
        is_read = req.method in READ_METHODS
        limit = reads if is_read else writes
        if not self.rate_limits:
            # Limits off (benchmarks): still send the headers, with the whole budget left.
            return None, _limit_headers(limit, limit, int(time.time()) + 60)
        decision = self.limiter.check(f"clarky:{key}:{'read' if is_read else 'write'}", limit)
        # Reset is Unix seconds on the vendor's (wall) clock, whatever `sandbox advance` did to ours.
        headers = _limit_headers(decision.limit, decision.remaining, math.ceil(self.clock.wall(decision.reset)))
        if decision.allowed:
            return None, headers
        resp = self.error(429, "rate_limited", f"Too many requests. Retry after {decision.retry_after} seconds.")
        resp.headers["Retry-After"] = str(decision.retry_after)
        return resp, headers

    # -- dispatch -------------------------------------------------------------------------------------
    def dispatch(self, req: SimRequest) -> SimResponse:
        """Auth (401), rate limit (429), scope (403), Content-Type (400), then the route."""
        denied, key = self.authenticate(req)
        if denied is not None:
            # Documented: *every* response carries X-RateLimit-*; a refused credential is counted
            # in a bucket of its own (the key as presented), so it never spends a real key's budget.
            _, headers = self.rate_limit(req, "unauthenticated:" + _presented(req))
            denied.headers.update(headers)
            denied.headers.setdefault("X-Request-Id", _request_id())
            return denied
        limited, headers = self.rate_limit(req, key)
        if limited is not None:
            resp = limited
        elif req.method not in READ_METHODS and "write" not in self.scopes(key):
            resp = self.error(403, "forbidden", "This API key does not have the write scope.")
        elif req.body and "json" not in req.headers.get("content-type", ""):
            resp = self.error(400, "bad_request", "Content-Type must be application/json.")
        else:
            try:
                # HEAD is a read on every endpoint (documented): answer as GET, without a body.
                resp = self._route(replace(req, method="GET") if req.method == "HEAD" else req)
            except ApiError as exc:
                resp = self.error(exc.status, exc.code, exc.message, exc.details)
            if req.method == "HEAD":
                resp.body = None
        resp.headers.update(headers)
        resp.headers.setdefault("X-Request-Id", _request_id())
        return resp

    # -- request helpers ------------------------------------------------------------------------------
    def body_object(self, req: SimRequest, allowed: set[str]) -> dict[str, Any]:
        """The JSON body as an object; unknown fields are a 400 (documented: unsupported parameter)."""
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "Request body must be a JSON object.")
        for name in body:
            if name not in allowed:
                raise ApiError(400, "bad_request", f"Unsupported parameter: {name}.", {"field": name})
        return body

    def check_params(self, req: SimRequest, allowed: set[str]) -> None:
        """Unknown query parameters are a 400 bad_request."""
        for name in req.query:
            if name not in allowed:
                raise ApiError(400, "bad_request", f"Unsupported parameter: {name}.", {"field": name})

    def page_params(self, req: SimRequest) -> tuple[int, int]:
        """(page, page_size): 1-indexed page, page_size 1..100 (more is a 422)."""
        page = _int_param(req, "page", 1)
        size = _int_param(req, "page_size", DEFAULT_PAGE_SIZE)
        if size > MAX_PAGE_SIZE:
            raise ApiError(
                422, "validation_error", f"page_size must be at most {MAX_PAGE_SIZE}.",
                {"field": "page_size", "max": MAX_PAGE_SIZE},
            )
        return page, size

    def listed(self, names: tuple[str, ...], key: tuple[Any, ...], build: Callable[[], list[Any]]) -> list[Any]:
        """`build()`, memoised until one of the collections `names` changes: paging through N objects
        filters them once instead of once per page (O(N), not O(N^2 / page size))."""
        versions = tuple(self.coll(name).version for name in names)
        memo = self.__dict__.setdefault("_listed", {})
        hit = memo.get(key)
        if hit is not None and hit[0] == versions:
            return hit[1]
        if len(memo) >= 16:  # a few concurrent listings at most; never grow without bound
            memo.clear()
        items = memo[key] = (versions, build())
        return items[1]

    def paginate(self, req: SimRequest, items: list[Any], coll: str | None = None) -> SimResponse:
        """One page of `items` in the documented list envelope; with `coll`, `items` are ids in that
        collection (a memoised list of ids keeps 50k rows out of memory) and the page is loaded."""
        page, size = self.page_params(req)
        total = len(items)
        start = (page - 1) * size
        data = items[start:start + size]
        if coll is not None:
            rows = self.coll(coll).get_many(data)
            for key, row in zip(data, rows, strict=True):
                if row is None:
                    raise KeyError(key)
            data = rows
        return SimResponse(200, {
            "data": data,
            "pagination": {"page": page, "page_size": size, "total": total, "total_pages": math.ceil(total / size)},
        })

    @staticmethod
    def bool_param(req: SimRequest, name: str, default: bool = False) -> bool:
        raw = req.q(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise invalid(name, f"{name} must be true or false.")

    @staticmethod
    def time_param(req: SimRequest, name: str) -> float | None:
        raw = req.q(name)
        if not raw:
            return None
        try:
            return parse_iso(raw)
        except ValueError:
            raise invalid(name, f"{name} must be an ISO 8601 timestamp.") from None


def _int_param(req: SimRequest, name: str, default: int) -> int:
    raw = req.q(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer.") from None
    if value < 1:
        raise invalid(name, f"{name} must be at least 1.")
    return value


def _limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


def _presented(req: SimRequest) -> str:
    """The credential a request presented, hashed (buckets must not keep secrets around)."""
    return hashlib.sha256(req.headers.get("authorization", "").encode()).hexdigest()[:16]


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]

