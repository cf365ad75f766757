"""Read-only discovery of a Gary Club account for `campaignctl import`: sequences and their
enrollments, pipelines and their deals, contacts. Only GETs, cursor-paged at the maximum limit
(200), over the adapter's own client."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.errors import PlanError
from reconciler.providers.garyclub import _mapping
from reconciler.providers.garyclub.provider import GaryClubProvider


class GaryClubDiscovery:
    """Lists what a Gary Club account has; never writes."""

    def __init__(self, provider: GaryClubProvider) -> None:
        self.provider = provider

    def _pick(self, rows: list[Mapping[str, Any]], target: str, what: str) -> Mapping[str, Any]:
        row = _mapping.pick_by_name_or_id(rows, target)
        if row is None:
            names = ", ".join(repr(r.get("name")) for r in rows) or "none"
            raise PlanError(f"{self.provider.config.name}: no Gary Club {what} {target!r} (available: {names})")
        return row

    def sequence(self, name_or_id: str) -> Mapping[str, Any]:
        return self._pick(self.provider.catalog.sequences(), name_or_id, "sequence")

    def pipeline(self, name_or_id: str) -> Mapping[str, Any]:
        return self._pick(self.provider.catalog.pipelines(), name_or_id, "pipeline")

    def stage_names(self, pipeline_id: str) -> dict[str, str]:
        """stage id -> name (Gary lists the stages inside the pipeline, listed once)."""
        return dict(_mapping.stages_of(self._pick(self.provider.catalog.pipelines(), pipeline_id, "pipeline")))

    def contacts(self) -> Iterator[Mapping[str, Any]]:
        yield from self.provider.catalog.pages("/crm/contacts")

    def enrollments(self, sequence_id: str) -> Iterator[Mapping[str, Any]]:
        yield from self.provider.catalog.enrollments(sequence_id)

    def cards(self, pipeline_id: str) -> Iterator[Mapping[str, Any]]:
        """Every deal of the pipeline (Gary's cards), page by page."""
        yield from self.provider.catalog.pages("/crm/deals", {"pipeline_id": pipeline_id})

    @staticmethod
    def deal_contact(deal: Mapping[str, Any]) -> str | None:
        """The Gary contact id a deal belongs to."""
        return _mapping.deal_contact(deal)

    @staticmethod
    def deal_tags(deal: Mapping[str, Any]) -> tuple[str, ...]:
        return _mapping.deal_tags(deal)
