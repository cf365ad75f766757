"""What people do on the Gary Club side: a contact replies, a user pauses/cancels an enrollment in
the UI, a salesperson moves or edits a deal. Each event returns a short human sentence.

`contact` is an email, an E.164 phone or a contact id; it matches in every tenant. Unknown
contacts/deals raise LookupError, bad stages or fields ValueError (the CLI reports both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.sandbox.garyclub import validate as v
from reconciler.sandbox.garyclub.crm import DEAL_BODY
from reconciler.sandbox.garyclub.sequences import SequencesMixin
from reconciler.sandbox.garyclub.state import ApiError, norm_email


class EventsMixin(SequencesMixin):
    """Events of GaryClubSimulator; they act on deals and enrollments."""

    @property
    def events(self) -> dict[str, Callable[..., Any]]:
        return {"reply": self.ev_reply, "pause": self.ev_pause, "cancel": self.ev_cancel,
                "move_deal": self.ev_move_deal, "edit_deal": self.ev_edit_deal}

    def ev_reply(self, contact: str) -> str:
        """The contact replies to an SMS: their active enrollments auto-pause (documented)."""
        rows = self._enrollments_of(contact, None, ("active",))
        for row in rows:
            self.stop_enrollment(row, "paused", "reply_received")
        return f"{contact} replied: {_n(rows)} paused (reply_received)"

    def ev_pause(self, contact: str, sequence: str | None = None) -> str:
        """A user pauses the contact's active enrollments (all, or in one sequence by id or name)."""
        rows = self._enrollments_of(contact, sequence, ("active",))
        for row in rows:
            self.stop_enrollment(row, "paused", "manual")
        return f"{contact}: {_n(rows)} paused (manual)"

    def ev_cancel(self, contact: str, sequence: str | None = None) -> str:
        """A user cancels the contact's active or paused enrollments."""
        rows = self._enrollments_of(contact, sequence, ("active", "paused"))
        for row in rows:
            self.stop_enrollment(row, "cancelled")
        return f"{contact}: {_n(rows)} cancelled"

    def ev_move_deal(self, deal_id: str, stage: str) -> str:
        """Move a deal to a stage of its pipeline, by stage id or name (case-insensitive)."""
        self.run_due_steps()
        row = self._deal(deal_id)
        stages = self.coll("pipelines").get(row["pipeline_id"])["stages"]
        found = next((s for s in stages if s["id"] == stage or s["name"].lower() == str(stage).lower()), None)
        if found is None:
            raise ValueError(f"deal {deal_id}: no stage {stage!r} in its pipeline "
                             f"(stages: {', '.join(s['name'] for s in stages)})")
        prior = next((s["name"] for s in stages if s["id"] == row["stage_id"]), row["stage_id"])
        self.update_deal(row, {"stage_id": found["id"]})
        return f"deal {deal_id} moved from {prior} to {found['name']}"

    def ev_edit_deal(self, deal_id: str, **fields: Any) -> str:
        """A person edits deal fields (the PATCH field names; `title` is accepted for `name`)."""
        self.run_due_steps()
        row = self._deal(deal_id)
        if "title" in fields:
            fields["name"] = fields.pop("title")
        try:
            v.check(fields, DEAL_BODY)
            self.update_deal(row, fields)
        except ApiError as exc:
            raise ValueError(f"deal {deal_id}: {exc.message}") from None
        return f"deal {deal_id} edited: {', '.join(sorted(fields)) or 'nothing'}"

    # -- helpers --------------------------------------------------------------------------------
    def _deal(self, deal_id: str) -> dict[str, Any]:
        row = self.coll("deals").get(deal_id)
        if row is None:
            raise LookupError(f"garyclub has no deal {deal_id!r}")
        return row

    def _contacts_matching(self, ident: str) -> list[str]:
        """Contact ids for an id, email or phone, across tenants."""
        if ident in self.coll("contacts"):
            return [ident]
        found = []
        for tenant in list(self.idx.contacts):
            cid = self.idx.by_email.get((tenant, norm_email(ident))) or self.idx.by_phone.get((tenant, ident))
            if cid:
                found.append(cid)
        if not found:
            raise LookupError(f"garyclub has no contact {ident!r}")
        return found

    def _enrollments_of(self, contact: str, sequence: str | None, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        # Steps due before the event fire first, so the event sees the state a real account would.
        self.run_due_steps()
        seqs = self.coll("sequences")
        rows = []
        for cid in self._contacts_matching(contact):
            for eid in self.idx.enr_by_contact.get(cid, []):
                row = self.coll("enrollments").get(eid)
                if row is None or row["status"] not in statuses:
                    continue
                if sequence is not None:
                    seq = seqs.get(row["sequence_id"]) or {}
                    if sequence not in (seq.get("id"), seq.get("name")):
                        continue
                rows.append(row)
        return rows


def _n(rows: list[Any]) -> str:
    return f"{len(rows)} enrollment" + ("" if len(rows) == 1 else "s")
