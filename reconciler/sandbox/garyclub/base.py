"""Gary Club plumbing every endpoint shares: auth and tenancy, the error envelope, the rate limit,
request ids, the indexes and the webhook event log. The documented behaviour and the sandbox's
choices are listed in sim.py; the endpoint handlers build on this class.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse, Simulator
from reconciler.sandbox.garyclub.state import AGENCY, ApiError, Indexes, tenant_key

KEY_SHAPE = re.compile(r"^(gc_live|cl_live|agent_live)_[A-Za-z0-9_]{8,}$")
DEFAULT_RPM = 60


class GaryClubBase(Simulator):
    """Auth, tenancy, envelope, rate limit and the event log; the endpoint handlers build on this."""

    _idx: Indexes | None = None

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def idx(self) -> Indexes:
        """The indexes, built from the store on first use by this instance."""
        if self._idx is None:
            self._idx = Indexes(self.store)
        return self._idx

    def coll(self, name: str) -> Any:
        return self.store.collection(f"garyclub.{name}")

    def now_iso(self) -> str:
        return self.clock.iso()

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        # The base router reports malformed JSON as bad_request; Gary's catalog calls it invalid_request.
        code = {"bad_request": "invalid_request"}.get(code, code)
        body = {"error": code, "message": message, "details": details or {}}
        return SimResponse(status, body, {"X-Request-Id": request_id()})

    def ok(self, body: Any, status: int = 200) -> SimResponse:
        return SimResponse(status, body)

    def body(self, req: SimRequest) -> dict[str, Any]:
        """The JSON object body; anything else is 400 invalid_request."""
        data = req.json()
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_request", "Request body must be a JSON object", {"field": "body"})
        return data

    # -- auth, tenancy, rate limit --------------------------------------------------------------
    def auth_config(self) -> dict[str, Any]:
        return self.store.meta_get("garyclub.auth", {}) or {}

    def resolve(self, req: SimRequest) -> tuple[SimResponse | None, str, str]:
        """(error or None, api key, tenant key) for a request."""
        header = req.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return self.error(401, "authentication_required", "Missing or malformed Authorization header; "
                              "send 'Authorization: Bearer <api key>'"), "", ""
        m = KEY_SHAPE.match(key)
        if not m:
            return self.error(401, "invalid_api_key", "Unknown API key or wrong key shape"), "", ""
        cfg = self.auth_config()
        if key in cfg.get("revoked", []):
            return self.error(401, "revoked_api_key", "This API key has been revoked"), "", ""
        if key in cfg.get("expired", []):
            return self.error(401, "expired_api_key", "This API key has expired"), "", ""
        clients: dict[str, Any] = cfg.get("clients", {})
        wanted = req.headers.get("x-gary-client-id", "").strip()
        if m.group(1) == "gc_live":
            agency_keys = cfg.get("agency_keys")
            if agency_keys and key not in agency_keys:
                return self.error(401, "invalid_api_key", "Unknown API key or wrong key shape"), "", ""
            if not wanted:
                return None, key, AGENCY
            if wanted not in clients:
                return self.error(404, "not_found", "Client not found"), "", ""
            return None, key, tenant_key(wanted)
        owner = next((cid for cid, c in clients.items() if key in c.get("keys", [])), None)
        if owner is None:
            return self.error(401, "invalid_api_key", "Unknown API key or wrong key shape"), "", ""
        if wanted:
            return self.error(400, "invalid_request", "X-Gary-Client-Id cannot be used with a client key",
                              {"field": "X-Gary-Client-Id"}), "", ""
        return None, key, tenant_key(owner)

    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        denied, key, _ = self.resolve(req)
        return denied, key

    def tenant(self, req: SimRequest) -> str:
        """The tenant of an already authenticated request."""
        return self.resolve(req)[2]

    def rate_limit(self, req: SimRequest, key: str) -> tuple[SimResponse | None, dict[str, str]]:
        """One sliding 60 s window per key, all methods together (documented: 60 req/min)."""
        limits = self.config.get("rate_limits") or {}
        rpm = int(limits.get("requests_per_minute", DEFAULT_RPM))
        decision = self.limiter.check(f"garyclub:{key}", rpm)
        if decision.allowed:
            return None, {}
        resp = self.error(429, "rate_limited", f"Rate limit of {rpm} requests per minute exceeded. "
                          f"Retry after {decision.retry_after} seconds.", {"retry_after": decision.retry_after})
        resp.headers["Retry-After"] = str(decision.retry_after)
        return resp, {}

    def emit(self, kind: str, data: dict[str, Any], at: float | None = None) -> None:
        """Record the webhook event the vendor would deliver (documented envelope, `created` a string)."""
        ts = self.clock.now() if at is None else at
        evt = {"id": self.new_id("evt_"), "type": kind, "created": str(int(ts)), "data": data}
        self.coll("webhook_events").put(evt["id"], evt)


def request_id() -> str:
    return "req_" + uuid.uuid4().hex
