"""Clarky sequences: `POST /sequences/start` and the enrollment status, computed lazily from the
simulated clock (nothing runs in the background).

Timeline of an enrollment created at t0 (g = `config.generation_seconds`, default 60):
  [t0, t0+g)  generating (forever with `config.stall_generation: true`)
  t0+g        auto_approve: approved at t0+g; otherwise pending_approval until the `approve` event
  approved A  step i is scheduled_for A + day_i days and sent SEND_DELAY seconds later;
              status `approved` while at most the first step has gone out (as in the documented
              example), `running` once a later step went out, `completed` after the last one.
Events (reply, unsubscribe, stop, fail) freeze the status as stopped_* / failed; unsent steps
become `cancelled`.

Choices where the docs are silent: every start without a replayed key generates a new bespoke
sequence (new sequence_id); every new enrollment (even one failed at once) is recorded once in
the send ledger under (template id, contact id), so a duplicate start shows up in `Store.sends`.
A replayed `idempotency_key` still upserts the contact (notes appended again: the documented
trap), then returns the original ids and the enrollment's current status whatever the new body
says. A contact with no usable channel for any step (suppressed, or no phone for a voice-only
template) gets an enrollment that is `failed` at once with generation_error `no_usable_channels`;
a step whose channel the contact cannot receive is `skipped`. stop_reason is `reply`, `unsubscribed` or `user`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.clarky.base import ApiError, invalid, missing
from reconciler.sandbox.clarky.contacts import ContactsMixin, parse_contact_fields
from reconciler.sandbox.core import SimRequest, SimResponse, iso, parse_iso

DAY = 86400.0
SEND_DELAY = 7.0  # seconds from scheduled_for to sent_at (the documented example shows 7 s)
START_FIELDS = {"template_id", "bot_id", "contact", "auto_approve", "idempotency_key", "name"}
ACTIVE = frozenset({"generating", "pending_approval", "approved", "running"})
STOP_REASONS = {"stopped_reply": "reply", "stopped_unsubscribed": "unsubscribed", "stopped_user": "user"}


class SequencesMixin(ContactsMixin):
    """sequences/start, enrollment status, and the state changes events make."""

    # -- start ------------------------------------------------------------------------------------
    def start_sequence(self, req: SimRequest) -> SimResponse:
        body = self.body_object(req, START_FIELDS)
        template_id = body.get("template_id")
        if not template_id:
            raise missing("template_id")
        if not isinstance(template_id, str):
            raise invalid("template_id", "template_id must be a string.")
        if body.get("contact") is None:
            raise missing("contact")
        template = self.coll("templates").get(template_id)
        if template is None:
            raise ApiError(404, "not_found", f"Template {template_id} not found in this workspace.")
        bot_id = body.get("bot_id") or template.get("bot_id")
        if not bot_id:
            raise ApiError(400, "bad_request", "The template has no bot_id and none was provided.", {"field": "bot_id"})
        if bot_id not in self.coll("bots"):
            raise invalid("bot_id", f"bot_id {bot_id} is not in this workspace.")
        auto_approve = body.get("auto_approve", False)
        if not isinstance(auto_approve, bool):
            raise invalid("auto_approve", "auto_approve must be a boolean.")
        key = body.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not key):
            raise invalid("idempotency_key", "idempotency_key must be a non-empty string.")
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise invalid("name", "name must be a string.")
        fields = parse_contact_fields(body["contact"], "contact.")
        if not fields.get("emails") and not fields.get("phone_numbers"):
            raise invalid("contact", "The contact needs at least one email or phone number.")

        contact, action = self.upsert_contact(fields, bot_id)
        replay = self.coll("idempotency").get(key) if key else None
        if replay is not None:
            enrollment = self.coll("enrollments")[replay["enrollment_id"]]
        else:
            enrollment = self.create_enrollment(template, contact, bot_id, auto_approve, name, key)
        view = self.enrollment_view(enrollment)
        return SimResponse(202, {"data": {
            "sequence_id": enrollment["sequence_id"],
            "enrollment_id": enrollment["id"],
            "contact_id": enrollment["contact_id"],
            "contact_action": action,
            "auto_approve": enrollment["auto_approve"],
            "status": view["status"],
            "status_url": f"{self.root}/sequences/enrollments/{enrollment['id']}",
        }})

    def create_enrollment(self, template: dict[str, Any], contact: dict[str, Any], bot_id: str,
                          auto_approve: bool, name: str | None, key: str | None) -> dict[str, Any]:
        """A new enrollment (and bespoke sequence); records one send in the ledger."""
        now = self.clock.now()
        generation = float(self.config.get("generation_seconds", 60))
        steps = [
            {"sort_order": i, "channel": step["channel"], "day": float(step.get("day", 0)),
             "to_identifier": self._identifier(contact, step["channel"])}
            for i, step in enumerate(template.get("steps") or [], start=1)
        ]
        usable = any(step["to_identifier"] for step in steps)
        enrollment = {
            "id": self.new_id("enr_"),
            "sequence_id": self.new_id("seq_"),
            "contact_id": contact["id"],
            "template_id": template["id"],
            "bot_id": bot_id,
            "name": name or template["name"],
            "auto_approve": auto_approve,
            "stop_on_reply": bool(template.get("stop_on_reply", True)),
            "idempotency_key": key,
            "created_at": now,
            "ready_at": None if self.config.get("stall_generation") else now + generation,
            "approved_at": None,
            "generation_error": None if usable else "no_usable_channels",
            "final": None if usable else {"status": "failed", "at": now},
            "steps": steps,
        }
        self.coll("enrollments").put(enrollment["id"], enrollment)
        if key:
            self.coll("idempotency").put(key, {"enrollment_id": enrollment["id"], "at": iso(now)})
        self.store.record_send(self.vendor, template["id"], contact["id"], enrollment["id"], now)
        return enrollment

    def _identifier(self, contact: dict[str, Any], channel: str) -> str | None:
        """Where a step on `channel` would go: the first unsuppressed email / phone, primary first."""
        kind, items, key = (
            ("email", contact["emails"], "email") if channel == "email"
            else ("phone", contact["phone_numbers"], "phone_number")
        )
        ordered = sorted(items, key=lambda item: not item["is_primary"])
        for item in ordered:
            if not self.is_suppressed(kind, item[key]):
                return item[key]
        return None

    # -- status -----------------------------------------------------------------------------------
    def approved_at(self, enrollment: dict[str, Any]) -> float | None:
        if enrollment["approved_at"] is not None:
            return enrollment["approved_at"]
        return enrollment["ready_at"] if enrollment["auto_approve"] else None

    def status_of(self, enrollment: dict[str, Any], now: float | None = None) -> str:
        """The enrollment's status at `now` (default: the simulated clock)."""
        return self.enrollment_view(enrollment, now)["status"]

    def enrollment_view(self, enrollment: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """The documented status object, computed from the timeline."""
        now = self.clock.now() if now is None else now
        final = enrollment["final"]
        at = min(now, final["at"]) if final else now
        ready = enrollment["ready_at"]
        generated = ready is not None and ready <= at
        approved = self.approved_at(enrollment)
        if approved is not None and approved > at:
            approved = None
        steps = [self._step_view(enrollment, step, approved, at, final is not None)
                 for step in enrollment["steps"]] if generated else []
        if final:
            status = final["status"]
        elif not generated:
            status = "generating"
        elif approved is None:
            status = "pending_approval"
        else:
            live = [s for s in steps if s["status"] != "skipped"]
            sent = sum(1 for s in live if s["status"] == "sent")
            status = "completed" if sent == len(live) else "running" if sent >= 2 else "approved"
        times = [enrollment["created_at"], ready if generated else None, approved,
                 final["at"] if final else None, *[_sent(s) for s in steps]]
        seq_status = {"completed": "completed", "failed": "failed"}.get(
            status, "stopped" if status in STOP_REASONS else "active")
        return {
            "id": enrollment["id"],
            "sequence_id": enrollment["sequence_id"],
            "contact_id": enrollment["contact_id"],
            "status": status,
            "generation_error": enrollment["generation_error"],
            "approved_at": iso(approved) if approved is not None else None,
            "stop_reason": STOP_REASONS.get(status),
            "created_at": iso(enrollment["created_at"]),
            "updated_at": iso(max(t for t in times if t is not None)),
            "sequence": {
                "id": enrollment["sequence_id"],
                "name": enrollment["name"],
                "status": seq_status,
                "bot_id": enrollment["bot_id"],
                "template_id": enrollment["template_id"],
            },
            "steps": steps,
        }

    def _step_view(self, enrollment: dict[str, Any], step: dict[str, Any], approved: float | None,
                   at: float, stopped: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f"stp_{enrollment['id'][4:]}_{step['sort_order']}",
            "sort_order": step["sort_order"],
            "channel": step["channel"],
            "status": "draft",
            "scheduled_for": None,
            "sent_at": None,
            "to_identifier": step["to_identifier"],
        }
        if step["to_identifier"] is None:
            out["status"] = "skipped"
        elif approved is not None:
            scheduled = approved + step["day"] * DAY
            out["scheduled_for"] = iso(scheduled)
            if scheduled + SEND_DELAY <= at:
                out.update(status="sent", sent_at=iso(scheduled + SEND_DELAY))
            else:
                out["status"] = "cancelled" if stopped else "scheduled"
        elif stopped:
            out["status"] = "cancelled"
        out.update(_content(enrollment["name"], step))
        return out

    def get_enrollment(self, req: SimRequest, enrollment_id: str) -> SimResponse:
        self.check_params(req, set())
        enrollment = self.coll("enrollments").get(enrollment_id)
        if enrollment is None:
            raise ApiError(404, "not_found", f"Enrollment {enrollment_id} not found.")
        return SimResponse(200, {"data": self.enrollment_view(enrollment)})

    # -- state changes (used by events) ---------------------------------------------------------------
    def enrollments_of(self, contact_id: str) -> list[dict[str, Any]]:
        return [e for e in self.coll("enrollments").values() if e["contact_id"] == contact_id]

    def finish(self, enrollment: dict[str, Any], status: str) -> bool:
        """Freeze an active enrollment as `status` (stopped_*); False when it was not active."""
        if self.status_of(enrollment) not in ACTIVE:
            return False
        enrollment["final"] = {"status": status, "at": self.clock.now()}
        self.coll("enrollments").put(enrollment["id"], enrollment)
        return True

    def approve_enrollment(self, enrollment: dict[str, Any]) -> bool:
        """pending_approval -> approved now; False in any other status."""
        if self.status_of(enrollment) != "pending_approval":
            return False
        enrollment["approved_at"] = self.clock.now()
        self.coll("enrollments").put(enrollment["id"], enrollment)
        return True


def _sent(step: dict[str, Any]) -> float | None:
    return parse_iso(step["sent_at"]) if step["sent_at"] else None


def _content(name: str, step: dict[str, Any]) -> dict[str, Any]:
    """Stand-in for the generated content of a step, per channel."""
    if step["channel"] == "voice":
        return {"voice_objective": f"{name}: qualify and book a 15-minute demo",
                "voice_script": f"Hello, this is a call about {name}."}
    if step["channel"] == "sms":
        return {"sms_body": f"{name}: quick follow-up."}
    return {"email_subject": f"{name} — step {step['sort_order']}",
            "email_body": f"Generated email {step['sort_order']} of {name}."}
