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

from reconciler.sandbox.core import SimRequest, SimResponse
from reconciler.sandbox.garyclub.base import request_id
from reconciler.sandbox.garyclub.events import EventsMixin
from reconciler.sandbox.garyclub.paging import QueryError
from reconciler.sandbox.garyclub.seeding import SeedMixin
from reconciler.sandbox.garyclub.state import AGENCY, ApiError


class GaryClubSimulator(EventsMixin, SeedMixin):
    """Gary Club's public REST API (CRM contacts/companies/deals, sequences and enrollments)."""

    vendor = "garyclub"
    root = "/api/public/v1"
    page_query = ("page_token",)
    routes = (
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
    )

    def dispatch(self, req: SimRequest) -> SimResponse:
        """Run due sequence steps first (the worker is lazy), then serve; every answer gets an id."""
        self.run_due_steps()
        try:
            resp = super().dispatch(req)
        except ApiError as exc:
            resp = self.error(exc.status, exc.code, exc.message, exc.details)
        except QueryError as exc:
            resp = self.error(400, "invalid_request", exc.message, {"field": exc.field})
        resp.headers.setdefault("X-Request-Id", request_id())
        return resp

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
