"""Read-only discovery of a Gary Club account for `campaignctl import`: sequences and their
enrollments, pipelines and their deals, contacts, as the neutral records of
providers/discovered.py. Only GETs, cursor-paged at the maximum limit (200), over the adapter's
own client. The whole contact list is read (no lookup by id is documented)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.errors import PlanError
from reconciler.providers.discovered import FoundCard, FoundContact, FoundEnrollment, FoundPipeline, FoundSequence
from reconciler.providers.garyclub import _mapping
from reconciler.providers.garyclub._client import CONTACTS, DEALS, PAGE
from reconciler.providers.garyclub.provider import GaryClubProvider


class GaryClubDiscovery:
    """Lists what a Gary Club account has; never writes."""

    page = PAGE

    def __init__(self, provider: GaryClubProvider) -> None:
        self.provider = provider
        self._stages: dict[str, dict[str, str]] = {}  # pipeline id -> stage id -> name

    def _pick(self, rows: list[Mapping[str, Any]], target: str, what: str) -> Mapping[str, Any]:
        row = _mapping.pick_by_name_or_id(rows, target)
        if row is None:
            names = ", ".join(repr(r.get("name")) for r in rows) or "none"
            raise PlanError(f"{self.provider.config.name}: no Gary Club {what} {target!r} (available: {names})")
        return row

    def sequence(self, name_or_id: str) -> FoundSequence:
        return _mapping.to_found_sequence(self._pick(self.provider.catalog.sequences(), name_or_id, "sequence"))

    def pipeline(self, name_or_id: str) -> FoundPipeline:
        """The live pipeline, with its stages (Gary lists them inside the pipeline)."""
        row = self._pick(self.provider.catalog.pipelines(), name_or_id, "pipeline")
        found = _mapping.to_found_pipeline(row)
        self._stages[found.remote_id] = dict(_mapping.stages_of(row))
        return found

    def contacts(self, pipeline: FoundPipeline | None = None) -> Iterator[FoundContact]:
        """Every contact of the account (the cards and enrollments of any pipeline or sequence name them)."""
        for row in self.provider.catalog.pages(CONTACTS):
            yield _mapping.to_found_contact(row)

    def contact(self, remote_id: str) -> FoundContact | None:
        """None: `contacts` listed every contact there is."""
        return None

    def enrollments(self, sequence: FoundSequence) -> Iterator[FoundEnrollment]:
        for row in self.provider.catalog.enrollments(sequence.remote_id):
            yield _mapping.to_found_enrollment(row)

    def cards(self, pipeline: FoundPipeline) -> Iterator[FoundCard]:
        """Every deal of the pipeline (Gary's cards), page by page."""
        stages = self._stages[pipeline.remote_id]
        for row in self.provider.catalog.pages(DEALS, {"pipeline_id": pipeline.remote_id}):
            yield _mapping.to_found_card(row, stages)
