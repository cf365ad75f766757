"""Read-only discovery of a Kalent workspace for `campaignctl import`: sourcings, their blueprints
(with steps) and candidates, and each candidate's dynamic sequence. Only GETs, over the adapter's
own client. Kalent has no list of dynamic sequences, so finding a blueprint's members costs one
GET per candidate of the sourcing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.providers.kalent import _mapping
from reconciler.providers.kalent.provider import KalentProvider


class KalentDiscovery:
    """Lists what a Kalent workspace has; never writes."""

    def __init__(self, provider: KalentProvider) -> None:
        self.provider = provider

    def sourcings(self) -> list[dict[str, Any]]:
        return self.provider.catalog.sourcings()

    def sourcing(self, name_or_id: str) -> dict[str, Any]:
        """The sourcing named (or with the id) `name_or_id`; PlanError naming the others."""
        sid = self.provider.catalog.sourcing_id(name_or_id, "import")
        return next(s for s in self.sourcings() if str(s.get("sourcingId")) == sid)

    def blueprints(self, sourcing_id: str) -> list[dict[str, Any]]:
        return self.provider.catalog.blueprints(sourcing_id, fresh=True)

    def candidates(self, sourcing_id: str) -> Iterator[dict[str, Any]]:
        """The sourcing's candidates (the vendor's default filter: every status but NOT_RETAINED)."""
        yield from self.provider.catalog.candidates(sourcing_id)

    def sequence_of(self, candidate_id: str) -> dict[str, Any] | None:
        """The candidate's latest dynamic sequence, if any."""
        return self.provider.catalog.sequence_of(candidate_id)

    @staticmethod
    def blueprint_of(sequence: dict[str, Any]) -> str | None:
        return _mapping.sequence_blueprint(sequence)
