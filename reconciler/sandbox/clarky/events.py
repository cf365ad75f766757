"""Things people and contacts do in Clarky outside the API: replies, unsubscribes, approvals in the
review UI, manual stops, and card edits in the board. Each returns a short human string; an
unknown contact, enrollment, card or stage raises ValueError."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from reconciler.sandbox.clarky.pipelines import PipelinesMixin
from reconciler.sandbox.clarky.sequences import SequencesMixin


class EventsMixin(SequencesMixin, PipelinesMixin):
    """The `events` of the Clarky simulator."""

    @property
    def events(self) -> dict[str, Callable[..., Any]]:
        return {
            "reply": self.event_reply,
            "unsubscribe": self.event_unsubscribe,
            "approve": self.event_approve,
            "stop": self.event_stop,
            "fail": self.event_fail,
            "move_card": self.event_move_card,
            "archive_card": self.event_archive_card,
            "edit_card": self.event_edit_card,
            "delete_card": self.event_delete_card,
        }

    # -- contacts and enrollments -------------------------------------------------------------------
    def _contact(self, ref: str) -> dict[str, Any]:
        contact = self.find_contact(str(ref))
        if contact is None:
            raise ValueError(f"no Clarky contact matches {ref!r} (use a contact id, email or phone)")
        return contact

    def _targets(self, contact: str | None, enrollment_id: str | None) -> list[dict[str, Any]]:
        if enrollment_id:
            enrollment = self.coll("enrollments").get(enrollment_id)
            if enrollment is None:
                raise ValueError(f"no Clarky enrollment {enrollment_id!r}")
            return [enrollment]
        if contact:
            return self.enrollments_of(self._contact(contact)["id"])
        return self.coll("enrollments").values()

    def _stop_all(self, enrollments: Iterable[dict[str, Any]], status: str) -> list[str]:
        return [e["id"] for e in enrollments if self.finish(e, status)]

    def event_reply(self, contact: str) -> str:
        """The contact replies: its active enrollments (with stop_on_reply) stop as stopped_reply."""
        found = self._contact(contact)
        stopped = self._stop_all((e for e in self.enrollments_of(found["id"]) if e["stop_on_reply"]), "stopped_reply")
        return f"{contact} replied; stopped {len(stopped)} enrollment(s){_ids(stopped)}"

    def event_unsubscribe(self, contact: str) -> str:
        """The contact opts out: every email and phone is suppressed, active enrollments stop."""
        found = self._contact(contact)
        for item in found["emails"]:
            self.suppress("email", item["email"])
        for item in found["phone_numbers"]:
            self.suppress("phone", item["phone_number"])
        stopped = self._stop_all(self.enrollments_of(found["id"]), "stopped_unsubscribed")
        return f"{contact} unsubscribed; stopped {len(stopped)} enrollment(s){_ids(stopped)}"

    def event_approve(self, enrollment_id: str | None = None, contact: str | None = None) -> str:
        """An admin approves drafts: one enrollment, a contact's, or every pending one."""
        approved = [e["id"] for e in self._targets(contact, enrollment_id) if self.approve_enrollment(e)]
        return f"approved {len(approved)} enrollment(s){_ids(approved)}"

    def event_stop(self, contact: str | None = None, enrollment_id: str | None = None) -> str:
        """A workspace user halts a contact's (or one) active enrollment(s): stopped_user."""
        if not contact and not enrollment_id:
            raise ValueError("stop needs contact= or enrollment_id=")
        stopped = self._stop_all(self._targets(contact, enrollment_id), "stopped_user")
        return f"stopped {len(stopped)} enrollment(s){_ids(stopped)}"

    def event_fail(self, contact: str | None = None, enrollment_id: str | None = None,
                   reason: str = "generation_failed") -> str:
        """Generation or dispatch fails for a contact's (or one) active enrollment(s): failed, with `reason`."""
        if not contact and not enrollment_id:
            raise ValueError("fail needs contact= or enrollment_id=")
        failed = []
        for enrollment in self._targets(contact, enrollment_id):
            if self.finish(enrollment, "failed"):
                enrollment["generation_error"] = reason
                self.coll("enrollments").put(enrollment["id"], enrollment)
                failed.append(enrollment["id"])
        return f"failed {len(failed)} enrollment(s){_ids(failed)}: {reason}"

    # -- cards ----------------------------------------------------------------------------------------
    def _card(self, card_id: str) -> dict[str, Any]:
        card = self.coll("cards").get(card_id)
        if card is None:
            raise ValueError(f"no Clarky pipeline card {card_id!r}")
        return card

    def _stage(self, card: dict[str, Any], ref: str) -> dict[str, Any]:
        """A stage by id, or by name within the card's pipeline (case-insensitive)."""
        stages = self.coll("stages")
        if ref in stages:
            return stages[ref]
        pipeline_id = stages[card["pipeline_stage_id"]]["pipeline_id"]
        for stage in self.stages_of(pipeline_id):
            if stage["name"].lower() == str(ref).lower():
                return stage
        raise ValueError(f"no stage {ref!r} in pipeline {pipeline_id}")

    def event_move_card(self, card_id: str, stage: str) -> str:
        """A person drags a card to another stage (name or id)."""
        card = self._card(card_id)
        target = self._stage(card, stage)
        self.change_card(card, {"pipeline_stage_id": target["id"]})
        return f"moved card {card_id} to {target['name']} ({target['id']})"

    def event_archive_card(self, card_id: str) -> str:
        """A person archives a card."""
        card = self._card(card_id)
        self.change_card(card, {"archived_at": self.clock.iso()})
        return f"archived card {card_id}"

    def event_edit_card(self, card_id: str, title: str | None = None, description: str | None = None,
                        tags: list[str] | str | None = None) -> str:
        """A person edits a card's title, description and/or tags (tags replace the list)."""
        card = self._card(card_id)
        fields: dict[str, Any] = {k: v for k, v in (("title", title), ("description", description)) if v is not None}
        if tags is not None:  # the CLI / control API may pass "a,b"
            fields["tags"] = [t.strip() for t in tags.split(",") if t.strip()] if isinstance(tags, str) else list(tags)
        self.change_card(card, fields)
        return f"edited card {card_id}: {', '.join(sorted(fields)) or 'nothing'}"

    def event_delete_card(self, card_id: str) -> str:
        """A person deletes a card."""
        self._card(card_id)
        self.coll("cards").delete(card_id)
        return f"deleted card {card_id}"


def _ids(ids: list[str]) -> str:
    return f" ({', '.join(ids)})" if ids else ""
