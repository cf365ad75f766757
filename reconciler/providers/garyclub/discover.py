"""Read-only discovery of a Gary Club account for `campaignctl import`: sequences and their
enrollments, pipelines and their deals, contacts. Only GETs, cursor-paged at the maximum limit
(200), over the adapter's own client."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from reconciler.errors import PlanError
from reconciler.providers.garyclub import _map
from reconciler.providers.garyclub.provider import GaryClubProvider, _enrollments_path

CAN_LIST_MEMBERS = True


class GaryClubDiscovery:
    """Lists what a Gary Club account has; never writes."""

    def __init__(self, provider: GaryClubProvider) -> None:
        self.provider = provider

    def _pick(self, rows: list[Mapping[str, Any]], target: str, what: str) -> Mapping[str, Any]:
        row = _map.pick_by_name_or_id(rows, target)
        if row is None:
            names = ", ".join(repr(r.get("name")) for r in rows) or "none"
            raise PlanError(f"{self.provider.config.name}: no Gary Club {what} {target!r} (available: {names})")
        return row

    def sequence(self, name_or_id: str) -> Mapping[str, Any]:
        return self._pick(self.provider._sequence_rows(), name_or_id, "sequence")

    def pipeline(self, name_or_id: str) -> Mapping[str, Any]:
        if self.provider._pipelines is None:
            self.provider._pipelines = list(self.provider._pages("/crm/pipelines"))
        return self._pick(self.provider._pipelines, name_or_id, "pipeline")

    def stage_names(self, pipeline: Mapping[str, Any]) -> dict[str, str]:
        return dict(_map.stages_of(pipeline))

    def contacts(self) -> Iterator[Mapping[str, Any]]:
        yield from self.provider._pages("/crm/contacts")

    def enrollments(self, sequence_id: str) -> Iterator[Mapping[str, Any]]:
        yield from self.provider._pages(_enrollments_path(sequence_id))

    def deals(self, pipeline_id: str) -> Iterator[Mapping[str, Any]]:
        yield from self.provider._pages("/crm/deals", {"pipeline_id": pipeline_id})
