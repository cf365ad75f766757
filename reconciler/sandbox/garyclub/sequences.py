"""Gary Club sequences (read-only) and enrollments, with the lazy step worker.

Documented (docs.gary.club sequences page): list `{data, next_page_token, total}` with `status` filter
(draft|active|paused|archived); each row carries its `steps` ladder `{kind, wait_minutes, body}`;
POST /v1/sequences/{id}/enrollments `{contact_id, metadata}` -> `{enrollment, idempotent}`;
idempotent ONLY while the contact's enrollment is active; enrollments list with `status` filter
(active|paused|completed|cancelled); auto-pause on reply (`paused_reason: reply_received`).

The trap, simulated on purpose: once the latest enrollment is paused, completed or cancelled, a
POST creates a NEW enrollment and the messages go out again (a second `record_send`).

Documented timing: "The first step runs on the next cron tick (every minute)", and the enroll
example has `next_run_at` equal to `enrolled_at`: a new enrollment's `next_run_at` is its
`enrolled_at` and its first step fires at the first whole minute at or after it, whatever the
step's `wait_minutes`.

Sandbox choices: the `wait_minutes` of a later step is its delay after the previous step fired;
every step fires on a cron tick (the first whole minute at or after it is due); `current_step` is
the index of the next step to fire and `next_run_at` the time it is due; after the last step the
row is `completed` (`next_run_at: null`, `current_step` = number of steps). Steps fire lazily:
before each request or event, every step due by the simulated clock fires. Rows also carry
`metadata`, `paused_reason`, `completed_at` and `updated_at`. Each fired step is recorded as one
message (`messages_sent`: channel = the step's `kind`, time it fired). `GET /v1/sequences/{id}` answers
`{sequence: {…}}`. New enrollment 201, idempotent replay 200. Enrolling into a sequence that is
not `active` is 422 unprocessable; an unknown contact is 404 not_found.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse, iso
from reconciler.sandbox.garyclub import validate as v
from reconciler.sandbox.garyclub.crm import CrmMixin
from reconciler.sandbox.garyclub.paging import check_params, page
from reconciler.sandbox.garyclub.state import ApiError, public

SEQUENCE_STATUSES = ("draft", "active", "paused", "archived")
ENROLLMENT_STATUSES = ("active", "paused", "completed", "cancelled")
CRON_SECONDS = 60


def cron_tick(ts: float) -> float:
    """The worker's first run at or after `ts`: it runs every whole minute (documented: every minute)."""
    return math.ceil(ts / CRON_SECONDS) * CRON_SECONDS


class SequencesMixin(CrmMixin):
    """Handlers for /v1/sequences/*; built on the CRM handlers (an enrollment needs its contact)."""

    def h_list_sequences(self, req: SimRequest) -> SimResponse:
        check_params(req, ("status",))
        status = req.q("status")
        if status and status not in SEQUENCE_STATUSES:
            raise ApiError(400, "invalid_request", "status must be one of " + ", ".join(SEQUENCE_STATUSES),
                           {"field": "status"})
        keep = (lambda s: s["status"] == status) if status else None
        return self.ok(page(req, self.idx.sequences.get(self.tenant(req), []), self.coll("sequences"), keep,
                            public))

    def h_get_sequence(self, req: SimRequest, sequence_id: str) -> SimResponse:
        return self.ok({"sequence": public(self.sequence_in(self.tenant(req), sequence_id))})

    def sequence_in(self, tenant: str, sequence_id: str) -> dict[str, Any]:
        row = self.coll("sequences").get(sequence_id)
        if row is None or row["_tenant"] != tenant:
            raise ApiError(404, "not_found", "Sequence not found")
        return row

    def h_list_enrollments(self, req: SimRequest, sequence_id: str) -> SimResponse:
        tenant = self.tenant(req)
        self.sequence_in(tenant, sequence_id)
        check_params(req, ("status",))
        status = req.q("status")
        if status and status not in ENROLLMENT_STATUSES:
            raise ApiError(400, "invalid_request", "status must be one of " + ", ".join(ENROLLMENT_STATUSES),
                           {"field": "status"})
        keep = (lambda e: e["status"] == status) if status else None
        ids = self.idx.enr_by_seq.get((tenant, sequence_id), [])
        return self.ok(page(req, ids, self.coll("enrollments"), keep, public))

    def h_enroll(self, req: SimRequest, sequence_id: str) -> SimResponse:
        tenant = self.tenant(req)
        seq = self.sequence_in(tenant, sequence_id)
        data = self.body(req)
        v.check(data, {"contact_id": v.STR, "metadata": v.OBJ})
        if not data.get("contact_id"):
            raise ApiError(400, "invalid_request", "contact_id is required", {"field": "contact_id"})
        contact = self.contact_in(tenant, data["contact_id"])
        if seq["status"] != "active":
            raise ApiError(422, "unprocessable",
                           f"Sequence is {seq['status']}; only active sequences accept enrollments")
        row, created = self.enroll(seq, contact["id"], data.get("metadata") or {})
        return self.ok({"enrollment": public(row), "idempotent": not created}, 201 if created else 200)

    def enroll(self, seq: dict[str, Any], contact_id: str, metadata: dict[str, Any], *, at: float | None = None,
               emit: bool = True, enrollment_id: str | None = None) -> tuple[dict[str, Any], bool]:
        """The vendor's rule: return the active enrollment if there is one, else create (and send)."""
        latest_id = self.idx.enr_latest.get((seq["id"], contact_id))
        latest = self.coll("enrollments").get(latest_id) if latest_id else None
        if latest is not None and latest["status"] == "active":
            return latest, False
        now = self.clock.now() if at is None else at
        # Documented: the first step runs on the next cron tick; the example has next_run_at == enrolled_at.
        row = {"id": enrollment_id or self.new_id("enr_"), "sequence_id": seq["id"], "contact_id": contact_id,
               "current_step": 0, "status": "active", "next_run_at": iso(now), "enrolled_at": iso(now),
               "metadata": metadata, "paused_reason": None, "completed_at": None, "updated_at": iso(now),
               "_tenant": seq["_tenant"], "_due": cron_tick(now)}
        self.coll("enrollments").put(row["id"], row)
        self.idx.add_enrollment(row)
        # Every NEW enrollment sends real messages; replays above never reach this line.
        self.store.record_send(self.vendor, seq["id"], contact_id, row["id"], now)
        if emit:
            self.emit("sequence.enrollment.created", {"enrollment": public(row)})
        return row, True

    def run_due_steps(self) -> None:
        """The cron worker, run lazily: fire every step due by now, in due order."""
        now = self.clock.now()
        heap = self.idx.due
        enrollments = self.coll("enrollments")
        while heap and heap[0][0] <= now:
            fire, eid = heapq.heappop(heap)
            row = enrollments.get(eid)
            if row is None or row["status"] != "active" or row.get("_due") != fire:
                continue  # paused, cancelled or rescheduled since it was queued
            seq = self.coll("sequences").get(row["sequence_id"]) or {}
            steps = seq.get("steps") or []
            t = fire
            while True:
                if row["current_step"] < len(steps):
                    self._record_message(row, steps[row["current_step"]], t)
                    row["current_step"] += 1  # the step fired at t
                if row["current_step"] >= len(steps):
                    row.update(status="completed", next_run_at=None, completed_at=iso(t), updated_at=iso(t), _due=None)
                    self.emit("sequence.enrollment.completed", {"enrollment": public(row)}, at=t)
                    break
                due = t + steps[row["current_step"]].get("wait_minutes", 0) * 60
                row.update(next_run_at=iso(due), updated_at=iso(t))
                if cron_tick(due) > now:
                    row["_due"] = cron_tick(due)
                    heapq.heappush(heap, (row["_due"], eid))
                    break
                t = cron_tick(due)
            enrollments.put(eid, row)

    def _record_message(self, row: dict[str, Any], step: dict[str, Any], at: float) -> None:
        """A step fired: one message went out to the contact on the step's channel (`kind`)."""
        key = f"{row['id']}:{row['current_step']}"
        self.coll("messages").put(key, {"enrollment_id": row["id"], "sequence_id": row["sequence_id"],
                                        "contact_id": row["contact_id"], "channel": step.get("kind", "sms"), "at": at})

    def messages_sent(self) -> list[dict[str, Any]]:
        """Every message the steps sent so far by the simulated clock ({enrollment_id, sequence_id,
        contact_id, channel, at}), oldest first: the sandbox's own record, e.g. for forecasts."""
        self.run_due_steps()
        return sorted(self.coll("messages").values(), key=lambda m: (m["at"], m["enrollment_id"]))

    def stop_enrollment(self, row: dict[str, Any], status: str, reason: str | None = None) -> None:
        """Pause (with a reason) or cancel; nothing more fires for this row."""
        row.update(status=status, next_run_at=None, _due=None, updated_at=self.now_iso(),
                   paused_reason=reason if status == "paused" else row.get("paused_reason"))
        self.coll("enrollments").put(row["id"], row)
        if status == "paused":
            self.emit("sequence.enrollment.paused", {"enrollment": public(row), "reason": reason})
