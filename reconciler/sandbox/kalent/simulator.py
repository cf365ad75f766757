"""KalentSimulator: Kalent's public API (app.kalent.ai/api/v1) as documented, in-process.

Documented behaviour (docs.kalent.ai: authentication and API reference pages): `x-api-key` auth, the
`{"success": false, "error": {code, message, debugTrackingCode, details}}` envelope, 0-based
`page` (`pageIndex` for candidates) with `pageSize` <= 50 and `hasNextPage`, blueprints whose
`steps` are replaced as a whole, a non-idempotent `start` (<= 100 candidateIds) and a per-candidate
dynamic-sequence status.

Choices where the docs are silent (all configurable through the seed's `config:`):
- `Authorization: Bearer <key>` is accepted too (the docs mention a second way); any non-empty
  key is valid unless `config.api_keys` lists the accepted ones;
- a per-key limit of `config.rate_limits.requests_per_minute` (default 60) over a rolling minute;
  429 `rate_limit_exceeded` carries Retry-After; no X-RateLimit-* headers (none documented);
- X-Request-Id on every response;
- strict: only the documented reads exist (no GET of one sourcing, candidate or blueprint: 404),
  and every route refuses query parameters it does not document (400 validation_error naming
  it), so `page` sent where `pageIndex` is meant fails instead of returning page 0 forever; the
  candidates' free-text search is `search` (its documented name was not found);
- list payload keys are `sourcings`, `candidates`, `blueprints` next to `pagination`;
- blueprint create answers 201, every other success 200.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse
from reconciler.sandbox.kalent import seed as seeding
from reconciler.sandbox.kalent.blueprints import BlueprintHandlers
from reconciler.sandbox.kalent.common import Fail, allow_params, envelope_error, ok, paginate, request_id
from reconciler.sandbox.kalent.events import KalentEvents
from reconciler.sandbox.kalent.progress import advance, status_view

SORT_FIELDS = ("name", "companyName", "statusHandle", "city", "jobTitle", "userRating", "contacts", "createdAt",
               "history")
_ID = "(?P<{}>[^/]+)"


class KalentSimulator(BlueprintHandlers, KalentEvents):
    """The Kalent vendor: sourcings, candidates, sequence blueprints, dynamic sequences."""

    vendor = "kalent"
    root = "/api/v1"
    page_query = ("page", "pageIndex")
    routes = (
        ("GET", "/sourcings", "list_sourcings"),
        ("GET", "/sourcings/" + _ID.format("sourcing_id") + "/candidates", "list_candidates"),
        ("GET", "/candidates/" + _ID.format("candidate_id") + "/dynamic-sequence", "candidate_sequence"),
        ("GET", "/sourcings/" + _ID.format("sourcing_id") + "/sequence-blueprints", "list_blueprints"),
        ("POST", "/sourcings/" + _ID.format("sourcing_id") + "/sequence-blueprints", "create_blueprint"),
        ("PATCH", "/sequence-blueprints/" + _ID.format("blueprint_id"), "patch_blueprint"),
        ("POST", "/sequence-blueprints/" + _ID.format("blueprint_id") + "/start", "start_blueprint"),
    )

    # -- base hooks ---------------------------------------------------------------------------
    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        key = req.headers.get("x-api-key", "").strip()
        auth = req.headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            return self.error(401, "missing_api_key", "Missing API key: send it in the x-api-key header"), ""
        allowed = self.config.get("api_keys")
        if allowed is not None and key not in allowed:
            return self.error(401, "invalid_api_key", "Invalid API key or expired OAuth access token"), ""
        return None, key

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        return envelope_error(status, code, message, details)

    def rate_limit(self, req: SimRequest, key: str) -> tuple[SimResponse | None, dict[str, str]]:
        limit = int((self.config.get("rate_limits") or {}).get("requests_per_minute", 60))
        decision = self.limiter.check(f"kalent:{key}", limit)
        if decision.allowed:
            return None, {}
        resp = self.error(429, "rate_limit_exceeded", "API-key-level rate limit exceeded (minute)",
                          {"scope": "api_key", "window": "minute", "limit": limit})
        resp.headers["Retry-After"] = str(decision.retry_after)
        return resp, {}

    def seed(self, data: dict[str, Any]) -> None:
        seeding.load(self.store, data, self.clock.now())

    def dispatch(self, req: SimRequest) -> SimResponse:
        resp = super().dispatch(req)
        resp.headers.setdefault("X-Request-Id", request_id())
        return resp

    def _route(self, req: SimRequest) -> SimResponse:
        try:
            return super()._route(req)
        except Fail as fail:
            return self.error(fail.status, fail.code, fail.message, fail.details)

    # -- lookups ------------------------------------------------------------------------------
    def _candidate_item(self, cand: dict[str, Any]) -> dict[str, Any]:
        talent = self.store.collection("kalent.talents").get(cand["talentId"]) or {}
        return {
            "candidate": {k: cand[k] for k in ("id", "statusHandle", "createdAt", "sourcingId", "talentId")},
            "talent": {k: talent.get(k) for k in ("id", "firstname", "lastname", "jobTitle", "city", "linkedinUrl")},
        }

    # -- sourcings ----------------------------------------------------------------------------
    def list_sourcings(self, req: SimRequest) -> SimResponse:
        allow_params(req, "page", "pageSize", "ownership", "status")
        ownership = req.q("ownership") or "mine"
        status = req.q("status") or "in-progress"
        if ownership not in ("mine", "all") or status not in ("in-progress", "closed"):
            raise Fail(400, "validation_error", "ownership must be mine|all and status in-progress|closed",
                       {"issues": [{"path": "ownership" if ownership not in ("mine", "all") else "status",
                                    "message": "unsupported value"}]})
        rows = [s for s in self.store.collection("kalent.sourcings").values()
                if s["status"] == status and (ownership == "all" or s["mine"])]
        page, pagination = paginate(req, rows, page_param="page", default_size=8)
        return ok({"sourcings": [{"sourcingId": s["sourcingId"], "name": s["name"]} for s in page],
                   "pagination": pagination})

    # -- candidates ---------------------------------------------------------------------------
    def _filtered(self, req: SimRequest, sourcing_id: str) -> list[str]:
        statuses = tuple(req.qall("statusHandle"))
        text = (req.q("search") or "").lower()
        filters = tuple((f, tuple(v.lower() for v in req.qall(f))) for f in ("location", "jobTitle", "currentCompany"))
        sort, order = req.q("sortField") or "createdAt", req.q("sortOrder") or "asc"
        if sort not in SORT_FIELDS or order not in ("asc", "desc"):
            raise Fail(400, "validation_error",
                       f"sortField must be one of {', '.join(SORT_FIELDS)}; sortOrder asc|desc",
                       {"issues": [{"path": "sortField" if sort not in SORT_FIELDS else "sortOrder",
                                    "message": "unsupported value"}]})
        key = (sourcing_id, statuses, text, filters, sort, order)
        cached = self._lists.get(key)
        if cached and cached[0] == self._version:
            return cached[1]
        talents = self.store.collection("kalent.talents")
        rows = []
        for _, cand in self.store.collection("kalent.candidates").scan():
            if cand["sourcingId"] != sourcing_id:
                continue
            # Documented: without statusHandle, every status except NOT_RETAINED is listed.
            wanted = cand["statusHandle"] in statuses if statuses else cand["statusHandle"] != "NOT_RETAINED"
            if not wanted:
                continue
            tal = talents.get(cand["talentId"]) or {}
            fields = {"location": tal.get("city"), "jobTitle": tal.get("jobTitle"),
                      "currentCompany": tal.get("companyName")}
            if any(vals and not any(v in (fields[f] or "").lower() for v in vals) for f, vals in filters):
                continue
            haystack = f"{tal.get('firstname', '')} {tal.get('lastname', '')} {tal.get('jobTitle') or ''}".lower()
            if text and text not in haystack:
                continue
            rows.append((self._sort_key(sort, cand, tal), cand["id"]))
        rows.sort(key=lambda r: r[0], reverse=order == "desc")
        ids = [cid for _, cid in rows]
        self._lists[key] = (self._version, ids)
        return ids

    @staticmethod
    def _sort_key(sort: str, cand: dict[str, Any], tal: dict[str, Any]) -> Any:
        value = {
            "name": f"{tal.get('firstname', '')} {tal.get('lastname', '')}".lower(),
            "companyName": tal.get("companyName"), "statusHandle": cand["statusHandle"], "city": tal.get("city"),
            "jobTitle": tal.get("jobTitle"), "userRating": cand.get("userRating"),
        }.get(sort, cand["createdAt"])
        return (value is None, str(value) if not isinstance(value, (int, float)) else f"{value:020.4f}")

    def list_candidates(self, req: SimRequest, sourcing_id: str) -> SimResponse:
        allow_params(req, "pageIndex", "pageSize", "search", "statusHandle", "location", "jobTitle", "currentCompany",
                     "sortField", "sortOrder")
        self._sourcing(sourcing_id)
        ids = self._filtered(req, sourcing_id)
        page, pagination = paginate(req, ids, page_param="pageIndex", default_size=25)
        cands = self.store.collection("kalent.candidates")
        return ok({"candidates": [self._candidate_item(cands[cid]) for cid in page], "pagination": pagination})

    # -- dynamic sequence status ----------------------------------------------------------------
    def messages_sent(self) -> list[dict[str, Any]]:
        """Every message the dynamic sequences sent so far by the simulated clock ({sequence_id,
        blueprint_id, candidate_id, channel, at}; channel = the step's type in lower case), oldest
        first: the steps each sequence has fired, as its status endpoint counts them."""
        now = self.clock.now()
        out = []
        for seq in self.store.collection("kalent.dynamic_sequences").values():
            done = advance(seq, now)
            for step, at in zip(done["steps"], done["sent"], strict=False):  # the fired ones
                out.append({"sequence_id": seq["sequenceId"], "blueprint_id": seq["blueprintId"],
                            "candidate_id": seq["candidateId"], "channel": step["type"].lower(), "at": at})
        return sorted(out, key=lambda m: (m["at"], m["sequence_id"]))

    def candidate_sequence(self, req: SimRequest, candidate_id: str) -> SimResponse:
        allow_params(req)
        cand = self._candidate(candidate_id)
        now = self.clock.now()
        seq = self.latest_sequence(candidate_id, now)
        return ok({"candidateId": cand["id"], "talentId": cand["talentId"], "sourcingId": cand["sourcingId"],
                   "sequence": status_view(seq, now) if seq else None})

    @property
    def events(self) -> dict[str, Callable[..., Any]]:
        return self.event_table()
