"""Machinery every vendor simulator shares: request/response, clock, store, rate limits, faults.

A simulator is a pure function of (state, request) -> response, run under one lock: the hub owns
the SQLite-backed store, a controllable clock and the fault injector, and hands each request to
the simulator of its vendor. The same simulators serve in-process (an httpx transport, see
transport.py) and over loopback (server.py).

Persistence lives in store.py, fault injection in faults.py, the request in request.py (all
re-exported here).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from reconciler.sandbox.faults import Fault, FaultPlan, strip_key
from reconciler.sandbox.request import BadJson, SimRequest
from reconciler.sandbox.store import Collection, Store

__all__ = [
    "BadJson",
    "Clock",
    "Collection",
    "Fault",
    "FaultPlan",
    "Hub",
    "RateDecision",
    "RateLimiter",
    "SimDrop",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "Store",
    "iso",
    "parse_duration",
    "parse_iso",
]


@dataclass
class SimResponse:
    """A simulator's answer; `body` is JSON-serialisable, None for an empty body (204)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON (an injected maintenance page); wins over `body`

    def encoded(self) -> bytes:
        """The body as bytes."""
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


class SimDrop(Exception):
    """The connection is dropped. `committed` says whether the request took effect first."""

    def __init__(self, committed: bool) -> None:
        super().__init__("connection dropped" + (" after commit" if committed else ""))
        self.committed = committed


def iso(ts: float) -> str:
    """Epoch seconds -> ISO 8601 with milliseconds and Z, the shape the vendors send."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def parse_iso(text: str) -> float:
    """ISO 8601 (with Z) -> epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1d' or plain seconds -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class Clock:
    """Wall time plus a persisted offset, so `sandbox advance 2h` moves every simulator forward."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._offset = float(store.meta_get("clock.offset", 0.0))

    def now(self) -> float:
        return time.time() + self._offset

    def iso(self) -> str:
        return iso(self.now())

    def wall(self, ts: float) -> float:
        """A simulated instant as wall-clock epoch seconds: what a vendor puts in a header such as
        X-RateLimit-Reset, which a client compares with its own clock, never with the sandbox's."""
        return ts - self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
        self._store.meta_set("clock.offset", self._offset)
        self._store.commit()


@dataclass
class RateDecision:
    """Outcome of a rate-limit check, with the values for X-RateLimit-* headers.

    `reset` is on the simulated clock (when the oldest counted request leaves the window);
    `Clock.wall` turns it into the wall-clock epoch a vendor would send."""

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: int


class RateLimiter:
    """Rolling-window limiter per bucket (e.g. key + 'read'), on the simulator clock."""

    def __init__(self, clock: Clock, window: float = 60.0) -> None:
        self._clock = clock
        self._window = window
        self._hits: dict[str, deque[float]] = {}

    def check(self, bucket: str, limit: int) -> RateDecision:
        """Count a request against `bucket` if allowed; always return header values."""
        now = self._clock.now()
        hits = self._hits.setdefault(bucket, deque())
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= limit:
            retry = max(1, int(hits[0] + self._window - now + 0.999))
            return RateDecision(False, limit, 0, hits[0] + self._window, retry)
        hits.append(now)
        return RateDecision(True, limit, limit - len(hits), hits[0] + self._window, 0)



class Simulator:
    """Base of the three vendor simulators.

    Subclasses set `vendor`, `root` (documented path prefix, e.g. '/api/v1'), `routes`
    ([(METHOD, regex relative to root, handler)], handlers take (req, **groups)), and implement
    `authenticate`, `error` (the vendor's envelope), `rate_limit` and `seed`. `events` maps an
    event name (reply, unsubscribe, move_card, ...) to a method a test or a user can trigger.
    """

    vendor = "base"
    root = ""
    # the query parameters that pick a page of a list (the repeat_page fault drops them)
    page_query: tuple[str, ...] = ()
    routes: ClassVar[Sequence[tuple[str, str, str]]] = ()

    def __init__(self, store: Store, clock: Clock, limiter: RateLimiter, *, rate_limits: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.limiter = limiter
        self.rate_limits = rate_limits
        self.config: dict[str, Any] = {}
        self._compiled = [(m, re.compile("^" + self.root + p + "$"), h) for m, p, h in self.routes]

    # -- hooks for subclasses -------------------------------------------------------------------
    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        """(error response or None, key identity used for rate-limit buckets)."""
        raise NotImplementedError

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        """An error in this vendor's envelope."""
        raise NotImplementedError

    def rate_limit(self, req: SimRequest, key: str) -> tuple[SimResponse | None, dict[str, str]]:
        """(429 response or None, headers to add to every response)."""
        return None, {}

    def seed(self, data: dict[str, Any]) -> None:
        """Load the vendor's seed section (templates, pipelines, sequences, sourcings, ...)."""

    @property
    def events(self) -> dict[str, Callable[..., Any]]:
        return {}

    # -- shared behaviour -----------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """A fresh, sortable id with the vendor's prefix, persisted counter so ids never repeat."""
        n = int(self.store.meta_get(f"{self.vendor}.id_counter", 0)) + 1
        self.store.meta_set(f"{self.vendor}.id_counter", n)
        return f"{prefix}{n:08d}"

    def dispatch(self, req: SimRequest) -> SimResponse:
        """Authenticate, rate-limit and route one request (no faults, no commit)."""
        denied, key = self.authenticate(req)
        if denied is not None:
            return denied
        limited, headers = self.rate_limit(req, key) if self.rate_limits else (None, {})
        if limited is not None:
            limited.headers.update(headers)
            return limited
        resp = self._route(req)
        resp.headers.update(headers)
        return resp

    def _route(self, req: SimRequest) -> SimResponse:
        for method, pattern, handler in self._compiled:
            m = pattern.match(req.path)
            if m and method == req.method:
                try:
                    return getattr(self, handler)(req, **m.groupdict())
                except BadJson as exc:
                    return self.error(400, "bad_request", f"Malformed JSON body: {exc}")
        # No vendor documents a 405: a method a path does not document is as unknown as the path.
        return self.error(404, "not_found", f"No route for {req.method} {req.path}")


class Hub:
    """The sandbox: one store, one clock, the three simulators and the fault plan, under one lock."""

    def __init__(self, store: Store, simulators: dict[str, Simulator], faults: FaultPlan | None = None) -> None:
        self.store = store
        self.simulators = simulators
        self.faults = faults or FaultPlan()
        self.lock = threading.RLock()

    def handle(self, vendor: str, req: SimRequest) -> SimResponse:
        """Serve one request; raises SimDrop for dropped connections."""
        sim = self.simulators[vendor]
        with self.lock:
            at = sim.clock.now()
            plan = self.faults
            fault = plan.pick(vendor, req)
            if fault and fault.kind == "drop":
                self.store.log_request(vendor, req, None, at, "dropped")
                self.store.commit()
                raise SimDrop(committed=False)
            if fault and fault.kind == "status":
                status = fault.status or 503
                resp = sim.error(status, fault.code or "injected_fault", fault.message or f"Injected fault {status}")
                self.store.log_request(vendor, req, resp.status, at, "injected")
                self.store.commit()
                return resp
            if fault and fault.kind == "dispatch_delay":
                req.dispatch_delay = fault.seconds
            if fault and fault.kind == "repeat_page":  # a list that ignores the page asked for: the first, for ever
                resp = sim.dispatch(replace(req, query={k: v for k, v in req.query.items() if k not in sim.page_query}))
            else:
                resp = sim.dispatch(req)
            if fault and fault.kind == "commit_timeout":
                self.store.log_request(vendor, req, resp.status, at, "committed_then_dropped")
                self.store.commit()
                raise SimDrop(committed=True)
            outcome = "ok"
            if fault and fault.kind in ("body", "strip"):
                resp = _reshaped(resp, fault)
                outcome = "reshaped"
            self.store.log_request(vendor, req, resp.status, at, outcome)
            self.store.commit()
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
        if fault and fault.kind == "hold":  # outside the lock: other requests are served meanwhile
            plan.hold(fault)
        return resp

    def event(self, vendor: str, name: str, **kwargs: Any) -> Any:
        """Trigger a simulator event (a contact replies, a person moves a card, ...)."""
        sim = self.simulators[vendor]
        if name not in sim.events:
            raise KeyError(f"{vendor} has no event {name!r}; known: {', '.join(sorted(sim.events))}")
        with self.lock:
            result = sim.events[name](**kwargs)
            self.store.commit()
            return result


def _reshaped(resp: SimResponse, fault: Fault) -> SimResponse:
    """The simulator's answer as a 'body' or 'strip' fault changes it (headers kept, content type fixed)."""
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
    if fault.kind == "strip":
        return SimResponse(resp.status, strip_key(resp.body, fault.key or ""), headers)
    status = fault.status or resp.status
    if fault.raw is not None:
        headers["Content-Type"] = fault.content_type
        return SimResponse(status, None, headers, raw=fault.raw.encode())
    return SimResponse(status, fault.body, headers)
