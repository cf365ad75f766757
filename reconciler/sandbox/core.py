"""Machinery every vendor simulator shares: request/response, clock, store, rate limits, faults.

A simulator is a pure function of (state, request) -> response, run under one lock: the hub owns
the SQLite-backed store, a controllable clock and the fault injector, and hands each request to
the simulator of its vendor. The same simulators serve in-process (an httpx transport, see
transport.py) and over loopback (server.py).

Persistence: every collection is an insertion-ordered dict in memory, written through to SQLite at
the end of each request (one transaction), so a process killed mid-run loses nothing the vendor
had acknowledged, and `plan` -> `apply` -> `plan` in three processes sees one account.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs


class BadJson(Exception):
    """The request body is not valid JSON."""


@dataclass
class SimRequest:
    """One HTTP request as a simulator sees it; `path` is the vendor's documented full path."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def build(cls, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> "SimRequest":
        """Build from raw parts; header names are lower-cased."""
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); raises BadJson."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJson(str(exc)) from exc

    def q(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def qall(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter."""
        return list(self.query.get(name, []))


@dataclass
class SimResponse:
    """A simulator's answer; `body` is JSON-serialisable, None for an empty body (204)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as bytes."""
        return b"" if self.body is None else json.dumps(self.body).encode()


class SimDrop(Exception):
    """The connection is dropped. `committed` says whether the request took effect first."""

    def __init__(self, committed: bool) -> None:
        super().__init__("connection dropped" + (" after commit" if committed else ""))
        self.committed = committed


def iso(ts: float) -> str:
    """Epoch seconds -> ISO 8601 with milliseconds and Z, the shape the vendors send."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


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


class Collection:
    """An insertion-ordered id -> JSON object map, written through to the store on commit."""

    def __init__(self, store: "Store", name: str, rows: dict[str, Any]) -> None:
        self._store = store
        self.name = name
        self._rows = rows

    def get(self, key: str) -> Any | None:
        return self._rows.get(key)

    def put(self, key: str, obj: Any) -> None:
        """Insert or replace; call again after mutating an object in place."""
        self._rows[key] = obj
        self._store._dirty.add((self.name, key))

    def delete(self, key: str) -> None:
        if self._rows.pop(key, None) is not None:
            self._store._dirty.add((self.name, key))

    def values(self) -> list[Any]:
        return list(self._rows.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._rows.items())

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))


class Store:
    """SQLite persistence for simulator collections, metadata, the request log and the send ledger.

    `path=None` keeps everything in memory (unit tests). The store is used by one process at a
    time: the in-process sandbox, or `sandbox serve`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS objects (coll TEXT, key TEXT, body TEXT, PRIMARY KEY (coll, key));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                method TEXT, path TEXT, query TEXT, status INTEGER, at REAL, outcome TEXT);
            CREATE TABLE IF NOT EXISTS sends (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                sequence_id TEXT, contact TEXT, enrollment_id TEXT, at REAL);
            """
        )
        self._collections: dict[str, Collection] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._pending_log: list[tuple[Any, ...]] = []

    def collection(self, name: str) -> Collection:
        """The named collection (e.g. 'clarky.cards'), loaded once in insertion order."""
        coll = self._collections.get(name)
        if coll is None:
            rows = {
                key: json.loads(body)
                for key, body in self._db.execute(
                    "SELECT key, body FROM objects WHERE coll = ? ORDER BY rowid", (name,)
                )
            }
            coll = self._collections[name] = Collection(self, name, rows)
        return coll

    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_set(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def log_request(self, vendor: str, req: SimRequest, status: int | None, at: float, outcome: str) -> None:
        """Record one request (kept for tests and `sandbox requests`); written on commit."""
        query = "&".join(f"{k}={v}" for k, vs in sorted(req.query.items()) for v in vs)
        self._pending_log.append((vendor, req.method, req.path, query, status, at, outcome))

    def record_send(self, vendor: str, sequence_id: str, contact: str, enrollment_id: str, at: float) -> None:
        """Record that the vendor created an enrollment, i.e. real messages would go out."""
        self._db.execute(
            "INSERT INTO sends (vendor, sequence_id, contact, enrollment_id, at) VALUES (?, ?, ?, ?, ?)",
            (vendor, sequence_id, contact, enrollment_id, at),
        )

    def commit(self) -> None:
        """Write dirty objects and the request log in one transaction."""
        for coll_name, key in self._dirty:
            obj = self._collections[coll_name].get(key)
            if obj is None:
                self._db.execute("DELETE FROM objects WHERE coll = ? AND key = ?", (coll_name, key))
            else:
                self._db.execute(
                    "INSERT INTO objects (coll, key, body) VALUES (?, ?, ?) "
                    "ON CONFLICT(coll, key) DO UPDATE SET body = excluded.body",
                    (coll_name, key, json.dumps(obj)),
                )
        self._dirty.clear()
        if self._pending_log:
            self._db.executemany(
                "INSERT INTO requests (vendor, method, path, query, status, at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._pending_log,
            )
            self._pending_log.clear()
        self._db.commit()

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Every request logged so far, oldest first."""
        self.commit()
        sql = "SELECT vendor, method, path, query, status, at, outcome FROM requests"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        cols = ("vendor", "method", "path", "query", "status", "at", "outcome")
        return [dict(zip(cols, row)) for row in self._db.execute(sql + " ORDER BY seq", args)]

    def sends(self, vendor: str | None = None) -> dict[tuple[str, str, str], int]:
        """(vendor, sequence, contact) -> how many enrollments were ever created. >1 is a duplicate send."""
        self.commit()
        sql = "SELECT vendor, sequence_id, contact, COUNT(*) FROM sends"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        return {(v, s, c): n for v, s, c, n in self._db.execute(sql + " GROUP BY vendor, sequence_id, contact", args)}

    def close(self) -> None:
        self.commit()
        self._db.close()


class Clock:
    """Wall time plus a persisted offset, so `sandbox advance 2h` moves every simulator forward."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._offset = float(store.meta_get("clock.offset", 0.0))

    def now(self) -> float:
        return time.time() + self._offset

    def iso(self) -> str:
        return iso(self.now())

    def advance(self, seconds: float) -> None:
        self._offset += seconds
        self._store.meta_set("clock.offset", self._offset)
        self._store.commit()


@dataclass
class RateDecision:
    """Outcome of a rate-limit check, with the values for X-RateLimit-* headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
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
            return RateDecision(False, limit, 0, int(hits[0] + self._window + 0.999), retry)
        hits.append(now)
        reset = int(hits[0] + self._window + 0.999)
        return RateDecision(True, limit, limit - len(hits), reset, 0)


@dataclass
class Fault:
    """One injected fault: `kind` is 'status' (answer `status`), 'drop' (no answer, nothing done),
    'commit_timeout' (done, but the answer is lost), or 'latency' (sleep `seconds`, then answer)."""

    kind: str
    status: int = 503
    seconds: float = 0.0
    method: str | None = None      # only requests with this method ('WRITE' = any non-GET)
    path: str | None = None        # only paths matching this regex (re.search)
    vendor: str | None = None

    def matches(self, vendor: str, req: SimRequest) -> bool:
        if self.vendor and self.vendor != vendor:
            return False
        if self.method == "WRITE" and req.method in ("GET", "HEAD"):
            return False
        if self.method and self.method != "WRITE" and self.method != req.method:
            return False
        return not self.path or re.search(self.path, req.path) is not None


@dataclass
class FaultPlan:
    """Random faults at configured rates, plus a script of one-shot faults consumed in order."""

    error_rate: float = 0.0
    error_status: int = 503
    drop_rate: float = 0.0
    commit_timeout_rate: float = 0.0
    latency: float = 0.0
    only: Fault | None = None      # restrict random faults to matching requests (method/path/vendor)
    seed: int = 0
    script: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self, vendor: str, req: SimRequest) -> Fault | None:
        """The fault to apply to this request, if any (scripted faults first)."""
        for i, fault in enumerate(self.script):
            if fault.matches(vendor, req):
                del self.script[i]
                return fault
        if self.only and not self.only.matches(vendor, req):
            return None
        roll = self._rng.random()
        if roll < self.drop_rate:
            return Fault("drop")
        roll -= self.drop_rate
        if roll < self.commit_timeout_rate and req.method not in ("GET", "HEAD"):
            return Fault("commit_timeout")
        roll -= self.commit_timeout_rate
        if roll < self.error_rate:
            return Fault("status", status=self.error_status)
        if self.latency:
            return Fault("latency", seconds=self.latency)
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultPlan":
        """Build from the JSON shape used by the control API and `sandbox serve --faults`."""
        data = dict(data)
        script = [Fault(**f) for f in data.pop("script", [])]
        only = Fault(**data.pop("only")) if data.get("only") else None
        data.pop("only", None)
        return cls(script=script, only=only, **data)


Handler = Callable[..., SimResponse]


class Simulator:
    """Base of the three vendor simulators.

    Subclasses set `vendor`, `root` (documented path prefix, e.g. '/api/v1'), `routes`
    ([(METHOD, regex relative to root, handler)], handlers take (req, **groups)), and implement
    `authenticate`, `error` (the vendor's envelope), `rate_limit` and `seed`. `events` maps an
    event name (reply, unsubscribe, move_card, ...) to a method a test or a user can trigger.
    """

    vendor = "base"
    root = ""
    routes: list[tuple[str, str, str]] = []

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
        path_matched = False
        for method, pattern, handler in self._compiled:
            m = pattern.match(req.path)
            if not m:
                continue
            path_matched = True
            if method == req.method:
                try:
                    return getattr(self, handler)(req, **m.groupdict())
                except BadJson as exc:
                    return self.error(400, "bad_request", f"Malformed JSON body: {exc}")
        if path_matched:
            return self.error(405, "method_not_allowed", f"{req.method} is not allowed on {req.path}")
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
            fault = self.faults.pick(vendor, req)
            if fault and fault.kind == "drop":
                self.store.log_request(vendor, req, None, at, "dropped")
                self.store.commit()
                raise SimDrop(committed=False)
            if fault and fault.kind == "status":
                resp = sim.error(fault.status, "injected_fault", f"Injected fault {fault.status}")
                self.store.log_request(vendor, req, resp.status, at, "injected")
                self.store.commit()
                return resp
            resp = sim.dispatch(req)
            if fault and fault.kind == "commit_timeout":
                self.store.log_request(vendor, req, resp.status, at, "committed_then_dropped")
                self.store.commit()
                raise SimDrop(committed=True)
            self.store.log_request(vendor, req, resp.status, at, "ok")
            self.store.commit()
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
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
