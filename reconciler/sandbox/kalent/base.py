"""What every Kalent handler shares: the lookups that answer 404 and the candidate-list cache."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import Simulator
from reconciler.sandbox.kalent.common import Fail


class KalentBase(Simulator):
    """Lookups and the candidate-list cache; the blueprint, event and list handlers build on this."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Filtered candidate id lists per (sourcing, filters), rebuilt when candidates change, so
        # paging through 10k+ candidates is O(N) once rather than O(N) per page.
        self._version = 0
        self._lists: dict[tuple[Any, ...], tuple[int, list[str]]] = {}

    def _sourcing(self, sourcing_id: str) -> dict[str, Any]:
        src = self.store.collection("kalent.sourcings").get(sourcing_id)
        if src is None:
            raise Fail(404, "not_found", f"Sourcing {sourcing_id} not found")
        return src

    def _candidate(self, candidate_id: str) -> dict[str, Any]:
        cand = self.store.collection("kalent.candidates").get(candidate_id)
        if cand is None:
            raise Fail(404, "not_found", f"Candidate {candidate_id} not found")
        return cand

    def candidates_changed(self) -> None:
        """Invalidate the cached candidate lists (after any candidate write)."""
        self._version += 1

    def latest_sequence(self, candidate_id: str, now: float) -> dict[str, Any] | None:
        """The candidate's latest dynamic sequence already dispatched by `now`, if any."""
        seqs = self.store.collection("kalent.dynamic_sequences")
        for seq_id in reversed(self.store.collection("kalent.candidate_sequences").get(candidate_id) or []):
            seq = seqs.get(seq_id)
            if seq is not None and seq["dispatchAt"] <= now:
                return seq
        return None
