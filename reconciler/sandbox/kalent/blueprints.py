"""Sequence blueprints (list, get, create, patch) and the non-idempotent `start`.

Documented: PATCH `steps` replaces the whole list; start needs >= 1 step, candidates of the
blueprint's sourcing and connected channels (403 forbidden, `details.code` names the provider),
402 plan_upgrade_required with billing details, 503 temporal_unavailable. Every start call
creates a new dynamic sequence for every candidate listed: nothing is deduplicated.

Choices where the docs are silent:
- at most 100 candidateIds per call (the vendor's own agent skill says so); more is a 400;
- a candidateId listed twice in one call gets two dynamic sequences (no dedupe anywhere);
- checks run in this order: 400 query parameters, 404 blueprint, 400 body, 402 plan, 400 steps, 404/400 candidates,
  403 channels, 503 workflow engine;
- channels: LINKEDIN needs `linkedin`, EMAIL `email`, WHATSAPP `whatsapp`, LINKEDIN_INMAIL also
  `linkedin_inmail` (403 linkedin_inmail_not_available); SMS needs nothing (no provider documented);
- the blueprint list filters by `name` (case-insensitive substring); its documented name is unknown.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse, parse_duration
from reconciler.sandbox.kalent.base import KalentBase
from reconciler.sandbox.kalent.common import Fail, allow_params, body, invalid, ok, paginate
from reconciler.sandbox.kalent.progress import new_sequence
from reconciler.sandbox.kalent.steps import channels, step_issues, stored_steps

MAX_START_IDS = 100
BILLING_URL = "https://app.kalent.ai/settings/billing"
PLAN_MESSAGE = ("A Kalent subscription or plan upgrade is required to use outreach integrations. "
                f"Please subscribe or upgrade your plan in Kalent billing: {BILLING_URL}")
CHANNEL_ERRORS = {
    "linkedin": ("linkedin_not_connected_or_syncing", "LinkedIn account is not connected or not synced"),
    "whatsapp": ("whatsapp_not_connected_or_syncing", "WhatsApp account is not connected or not synced"),
    "email": ("email_not_connected_or_syncing",
              "Email account (Gmail, Outlook or IMAP) is not connected or not synced"),
    "linkedin_inmail": ("linkedin_inmail_not_available", "LinkedIn InMail needs LinkedIn Recruiter or Sales Navigator"),
}
_NEEDS = {"LINKEDIN": "linkedin", "EMAIL": "email", "WHATSAPP": "whatsapp"}


def blueprint_view(bp: dict[str, Any]) -> dict[str, Any]:
    """The documented blueprint item (no config, no workspace/user ids)."""
    return {k: bp[k] for k in ("blueprintId", "name", "sourcingId", "createdAt", "updatedAt", "steps", "stepCount",
                               "channels")}


class BlueprintHandlers(KalentBase):
    """Blueprint CRUD and start, for KalentSimulator."""

    def _blueprint(self, blueprint_id: str) -> dict[str, Any]:
        bp = self.store.collection("kalent.blueprints").get(blueprint_id)
        if bp is None:
            raise Fail(404, "not_found", f"Sequence blueprint {blueprint_id} not found")
        return bp

    @staticmethod
    def _checked_fields(data: dict[str, Any], *, creating: bool) -> None:
        issues = [{"path": k, "message": f"unknown field {k!r}"} for k in data if k not in ("name", "steps", "config")]
        if creating and "name" not in data:
            issues.append({"path": "name", "message": "name is required"})
        if not creating and not any(k in data for k in ("name", "steps", "config")):
            issues.append({"path": "", "message": "send at least one of name, steps, config"})
        if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
            issues.append({"path": "name", "message": "name must be a non-empty string"})
        if "config" in data and not isinstance(data["config"], dict):
            issues.append({"path": "config", "message": "config must be an object"})
        if "steps" in data:
            issues.extend(step_issues(data["steps"]))
        if issues:
            raise invalid(f"Invalid sequence blueprint: {issues[0]['path'] or 'body'}: {issues[0]['message']}", issues)

    def list_blueprints(self, req: SimRequest, sourcing_id: str) -> SimResponse:
        allow_params(req, "page", "pageSize", "name")
        self._sourcing(sourcing_id)
        needle = (req.q("name") or "").lower()
        rows = [bp for bp in self.store.collection("kalent.blueprints").values()
                if bp["sourcingId"] == sourcing_id and needle in bp["name"].lower()]
        page, pagination = paginate(req, rows, page_param="page", default_size=20)
        return ok({"blueprints": [blueprint_view(bp) for bp in page], "pagination": pagination})

    def create_blueprint(self, req: SimRequest, sourcing_id: str) -> SimResponse:
        allow_params(req)
        self._sourcing(sourcing_id)
        data = body(req)
        self._checked_fields(data, creating=True)
        steps = stored_steps(data.get("steps") or [])
        now = self.clock.iso()
        bp = {"blueprintId": self.new_id("bp_"), "name": data["name"], "sourcingId": sourcing_id,
              "createdAt": now, "updatedAt": now, "steps": steps, "stepCount": len(steps),
              "channels": channels(steps), "config": data.get("config") or {}}
        self.store.collection("kalent.blueprints").put(bp["blueprintId"], bp)
        return ok(blueprint_view(bp), status=201)

    def patch_blueprint(self, req: SimRequest, blueprint_id: str) -> SimResponse:
        allow_params(req)
        bp = dict(self._blueprint(blueprint_id))
        data = body(req)
        self._checked_fields(data, creating=False)
        if "name" in data:
            bp["name"] = data["name"]
        if "config" in data:
            bp["config"] = data["config"]
        if "steps" in data:  # documented: the whole list is replaced, never merged
            bp["steps"] = stored_steps(data["steps"])
            bp["stepCount"], bp["channels"] = len(bp["steps"]), channels(bp["steps"])
        bp["updatedAt"] = self.clock.iso()
        self.store.collection("kalent.blueprints").put(blueprint_id, bp)
        return ok(blueprint_view(bp))

    # -- start ----------------------------------------------------------------------------------
    def connected_channels(self) -> list[str]:
        """config.connected_channels (live override) or what the seed connected."""
        if "connected_channels" in self.config:
            return list(self.config["connected_channels"])
        return list(self.store.meta_get("kalent.connected_channels", ["linkedin", "email"]))

    def _start_ids(self, data: dict[str, Any]) -> list[str]:
        ids = data.get("candidateIds")
        extra = [k for k in data if k != "candidateIds"]
        if extra:
            raise invalid(f"Unknown field {extra[0]!r}", [{"path": k, "message": "unknown field"} for k in extra])
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise invalid("candidateIds must be a non-empty array of candidate ids",
                          [{"path": "candidateIds", "message": "must contain at least one id"}])
        if len(ids) > MAX_START_IDS:
            raise invalid(f"candidateIds accepts at most {MAX_START_IDS} ids per call, got {len(ids)}",
                          [{"path": "candidateIds", "message": f"at most {MAX_START_IDS} items"}])
        return ids

    def _check_channels(self, bp: dict[str, Any]) -> None:
        connected = set(self.connected_channels())
        for step in bp["steps"]:
            needs = [_NEEDS.get(step["type"])]
            if step.get("linkedInType") == "LINKEDIN_INMAIL":
                needs.append("linkedin_inmail")
            for channel in needs:
                if channel and channel not in connected:
                    code, message = CHANNEL_ERRORS[channel]
                    raise Fail(403, "forbidden", message, {"code": code})

    def start_blueprint(self, req: SimRequest, blueprint_id: str) -> SimResponse:
        allow_params(req)
        bp = self._blueprint(blueprint_id)
        ids = self._start_ids(body(req))
        if self.config.get("plan_upgrade_required"):
            raise Fail(402, "plan_upgrade_required", PLAN_MESSAGE, {
                "code": "subscription_or_plan_upgrade_required", "action": "subscribe_or_upgrade",
                "capability": "use_outreach_integrations", "billingUrl": BILLING_URL})
        if not bp["steps"] or step_issues(bp["steps"]):
            raise invalid("The blueprint must have at least one valid step",
                          [{"path": "steps", "message": "no valid step"}])
        cands = [self._start_candidate(cid) for cid in ids]
        foreign = [c["id"] for c in cands if c["sourcingId"] != bp["sourcingId"]]
        if foreign:
            raise invalid("Every candidate must belong to the blueprint's sourcing",
                          [{"path": "candidateIds",
                            "message": f"{cid} is not in sourcing {bp['sourcingId']}"} for cid in foreign])
        self._check_channels(bp)
        if self.config.get("temporal_unavailable"):
            raise Fail(503, "temporal_unavailable",
                       "The workflow engine is temporarily unavailable, please retry later")
        now = self.clock.now()
        delay = req.dispatch_delay if req.dispatch_delay is not None else \
            parse_duration(self.config.get("dispatch_delay", "1s"))
        timeout = int(self.config.get("invite_timeout_days", 7))
        seqs = self.store.collection("kalent.dynamic_sequences")
        index = self.store.collection("kalent.candidate_sequences")
        for cand in cands:
            seq = new_sequence(self.new_id("dseq_"), bp, cand, now, delay, timeout)
            seqs.put(seq["sequenceId"], seq)
            index.put(cand["id"], [*(index.get(cand["id"]) or []), seq["sequenceId"]])
            # The trap: no idempotency, so every call is a real new send to a real person.
            self.store.record_send("kalent", bp["blueprintId"], cand["id"], seq["sequenceId"], now)
        return ok({"started": True, "blueprintId": bp["blueprintId"], "candidateCount": len(ids)})

    def _start_candidate(self, candidate_id: str) -> dict[str, Any]:
        cand = self.store.collection("kalent.candidates").get(candidate_id)
        if cand is None:
            raise Fail(404, "not_found", f"Candidate {candidate_id} not found", {"candidateId": candidate_id})
        return cand

