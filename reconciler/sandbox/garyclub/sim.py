"""The Gary Club simulator: auth and tenancy, envelope, rate limit, request ids, routing.

Documented (docs.gary.club: authentication, errors, sequences pages): root /api/public/v1, where the docs'
`/v1/sequences` is `/api/public/v1/sequences` (the seed's curl); `Authorization:
Bearer <key>`; agency keys `gc_live_…` act on agency-self unless `X-Gary-Client-Id` names a
client; client keys `cl_live_…` (also `agent_live_…`) are sealed to one client and sending the
client header with them is 400 invalid_request; no scopes; error envelope
`{"error": "<code>", "message", "details"}`; cursor pagination limit 1–200; 60 req/min per key,
sliding window.

Sandbox choices where the docs are silent:
- Any well-formed `gc_live_` key is an agency key unless the seed lists `auth.agency_keys`;
  client keys must be declared in the seed; `auth.revoked`/`auth.expired` keys give
  revoked_api_key/expired_api_key.
- An unknown `X-Gary-Client-Id` is 404 not_found (the docs promise no existence leak).
- 429 carries code `rate_limited` and `Retry-After`; no X-RateLimit-* headers (none documented).
- Malformed JSON and bad fields are 400 invalid_request with `details.field`; the one documented
  example (contact without email/phone) answers exactly `validation_error` as the docs show.
- `GET /me` (documented as /api/public/v1/me) answers `{key_type, org: {id, name}, client: {id, name} | null}`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse, Simulator
from reconciler.sandbox.garyclub.crm import CrmMixin
from reconciler.sandbox.garyclub.events import EventsMixin
from reconciler.sandbox.garyclub.paging import QueryError
from reconciler.sandbox.garyclub.seeding import SeedMixin
from reconciler.sandbox.garyclub.sequences import SequencesMixin
from reconciler.sandbox.garyclub.state import AGENCY, ApiError, Indexes, tenant_key

KEY_SHAPE = re.compile(r"^(gc_live|cl_live|agent_live)_[A-Za-z0-9_]{8,}$")
DEFAULT_RPM = 60


class GaryClubSimulator(CrmMixin, SequencesMixin, EventsMixin, SeedMixin, Simulator):
    """Gary Club's public REST API (CRM contacts/companies/deals, sequences and enrollments)."""

    vendor = "garyclub"
    root = "/api/public/v1"
    page_query = ("page_token",)
    routes = [
        ("GET", r"/me", "h_me"),
        ("GET", r"/crm/contacts", "h_list_contacts"),
        ("POST", r"/crm/contacts", "h_upsert_contact"),
        ("GET", r"/crm/companies", "h_list_companies"),
        ("POST", r"/crm/companies", "h_upsert_company"),
        ("GET", r"/crm/companies/(?P<company_id>[^/]+)", "h_get_company"),
        ("GET", r"/crm/pipelines", "h_list_pipelines"),
        ("GET", r"/crm/deals", "h_list_deals"),
        ("POST", r"/crm/deals", "h_create_deal"),
        ("PATCH", r"/crm/deals/(?P<deal_id>[^/]+)", "h_patch_deal"),
        ("GET", r"/sequences", "h_list_sequences"),
        ("GET", r"/sequences/(?P<sequence_id>[^/]+)", "h_get_sequence"),
        ("GET", r"/sequences/(?P<sequence_id>[^/]+)/enrollments", "h_list_enrollments"),
        ("POST", r"/sequences/(?P<sequence_id>[^/]+)/enrollments", "h_enroll"),
    ]

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

    def dispatch(self, req: SimRequest) -> SimResponse:
        """Run due sequence steps first (the worker is lazy), then serve; every answer gets an id."""
        self.run_due_steps()
        try:
            resp = super().dispatch(req)
        except ApiError as exc:
            resp = self.error(exc.status, exc.code, exc.message, exc.details)
        except QueryError as exc:
            resp = self.error(400, "invalid_request", exc.message, {"field": exc.field})
        resp.headers.setdefault("X-Request-Id", _request_id())
        return resp

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        # The base router reports malformed JSON as bad_request; Gary's catalog calls it invalid_request.
        code = {"bad_request": "invalid_request"}.get(code, code)
        body = {"error": code, "message": message, "details": details or {}}
        return SimResponse(status, body, {"X-Request-Id": _request_id()})

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

    def h_me(self, req: SimRequest) -> SimResponse:
        tenant = self.tenant(req)
        cfg = self.auth_config()
        org = cfg.get("org", {"id": "org_sandbox", "name": "Sandbox agency"})
        client = None
        if tenant != AGENCY:
            cid = tenant.split(":", 1)[1]
            client = {"id": cid, "name": cfg.get("clients", {}).get(cid, {}).get("name")}
        key_type = "agency" if self.resolve(req)[1].startswith("gc_live_") else "client"
        return self.ok({"key_type": key_type, "org": org, "client": client})


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex
