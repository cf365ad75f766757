"""Things people do outside the API: a candidate replies or accepts an invite, a recruiter pauses.

Each event acts on the candidate's latest dispatched dynamic sequence, materialising its progress
at the current simulated time first. `set_status` takes a documented displayStatus (SCHEDULED
resumes from now) or, for any other value, sets the candidate's statusHandle (e.g. NOT_RETAINED,
as the MCP `update_candidate_status` tool does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.sandbox.kalent import progress
from reconciler.sandbox.kalent.base import KalentBase

_STATE_FOR = {"SCHEDULED": "RUNNING", **{s: s for s in progress.FROZEN}}


class KalentEvents(KalentBase):
    """The `events` table, for KalentSimulator."""

    def event_table(self) -> dict[str, Callable[..., Any]]:
        return {
            "reply": self.event_reply, "accept_invite": self.event_accept_invite, "pause": self.event_pause,
            "error": self.event_error, "set_status": self.event_set_status,
            "connect_channel": self.event_connect_channel, "disconnect_channel": self.event_disconnect_channel,
        }

    def _latest(self, candidate: str) -> dict[str, Any]:
        if self.store.collection("kalent.candidates").get(candidate) is None:
            raise LookupError(f"kalent has no candidate {candidate!r}")
        seq = self.latest_sequence(candidate, self.clock.now())
        if seq is None:
            raise ValueError(f"candidate {candidate} has no dynamic sequence yet")
        return seq

    def _save(self, seq: dict[str, Any]) -> str:
        self.store.collection("kalent.dynamic_sequences").put(seq["sequenceId"], seq)
        return progress.display_status(seq, self.clock.now())

    def _freeze(self, candidate: str, state: str, reason: str | None = None) -> str:
        seq = progress.freeze(self._latest(candidate), self.clock.now(), state, reason)
        return f"{candidate}: {seq['sequenceId']} is now {self._save(seq)}"

    def event_reply(self, candidate: str) -> str:
        """The candidate replies: the sequence stops with TALENT_REPLIED."""
        return self._freeze(candidate, "TALENT_REPLIED", "talent_replied")

    def event_pause(self, candidate: str) -> str:
        """A recruiter pauses the sequence in the UI."""
        return self._freeze(candidate, "PAUSED", "paused_by_user")

    def event_error(self, candidate: str, reason: str = "internal_error") -> str:
        """The workflow fails (e.g. reason='linkedin_profile_unreachable')."""
        return self._freeze(candidate, "ERROR", reason)

    def event_accept_invite(self, candidate: str) -> str:
        """The candidate accepts the LinkedIn invitation."""
        seq = progress.accept_invite(self._latest(candidate), self.clock.now())
        return f"{candidate}: invitation accepted, {seq['sequenceId']} is now {self._save(seq)}"

    def event_set_status(self, candidate: str, status: str, reason: str | None = None) -> str:
        """Force a displayStatus on the latest sequence, or set the candidate's statusHandle."""
        if status in _STATE_FOR:
            return self._freeze(candidate, _STATE_FOR[status], reason)
        cands = self.store.collection("kalent.candidates")
        cand = cands.get(candidate)
        if cand is None:
            raise LookupError(f"kalent has no candidate {candidate!r}")
        cands.put(candidate, {**cand, "statusHandle": status})
        self.candidates_changed()
        return f"{candidate}: statusHandle is now {status}"

    def _channels(self, channel: str, connect: bool) -> str:
        channels = [c for c in self.store.meta_get("kalent.connected_channels", ["linkedin", "email"]) if c != channel]
        self.store.meta_set("kalent.connected_channels", [*channels, channel] if connect else channels)
        return f"{channel} {'connected' if connect else 'disconnected'}"

    def event_connect_channel(self, channel: str) -> str:
        """Connect an outreach account (linkedin, email, whatsapp, linkedin_inmail)."""
        return self._channels(channel, True)

    def event_disconnect_channel(self, channel: str) -> str:
        """Disconnect an outreach account; starts needing it answer 403."""
        return self._channels(channel, False)
