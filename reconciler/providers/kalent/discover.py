"""Read-only discovery of a Kalent workspace for `campaignctl import`: sourcings, their blueprints
(with steps) and candidates, and the blueprint each candidate's dynamic sequence was started from,
as the neutral records of providers/discovered.py. Only GETs, over the adapter's own client.
Kalent has no list of dynamic sequences, so finding a blueprint's members costs one GET per
candidate of the sourcing."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.providers.discovered import FoundBlueprint, FoundSourcing
from reconciler.providers.kalent import _mapping
from reconciler.providers.kalent.provider import KalentProvider


class KalentDiscovery:
    """Lists what a Kalent workspace has; never writes."""

    page = _mapping.PAGE_SIZE

    def __init__(self, provider: KalentProvider) -> None:
        self.provider = provider

    def sourcings(self) -> list[FoundSourcing]:
        return [_mapping.to_found_sourcing(item) for item in self.provider.catalog.sourcings()]

    def sourcing(self, name_or_id: str) -> FoundSourcing:
        """The sourcing named (or with the id) `name_or_id`; PlanError naming the others."""
        sid = self.provider.catalog.sourcing_id(name_or_id, "import")
        return next(s for s in self.sourcings() if s.remote_id == sid)

    def blueprints(self, sourcing: FoundSourcing) -> list[FoundBlueprint]:
        return [_mapping.to_found_blueprint(item) for item in self.provider.catalog.blueprints(sourcing.remote_id,
                                                                                              fresh=True)]

    def candidates(self, sourcing: FoundSourcing) -> Iterator[str]:
        """The ids of the sourcing's candidates (the vendor's default filter: every status but NOT_RETAINED)."""
        for item in self.provider.catalog.candidates(sourcing.remote_id):
            yield _mapping.candidate_id(item)

    def started_from(self, candidate_id: str) -> str | None:
        """The id of the blueprint the candidate's latest dynamic sequence was started from (None: none, or unsaid)."""
        sequence = self.provider.catalog.sequence_of(candidate_id)
        return _mapping.sequence_blueprint(sequence) if sequence else None
