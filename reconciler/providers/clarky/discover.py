"""Read-only discovery of a Clarky workspace for `campaignctl import`: pipelines, stages, cards and
their contacts. Only GETs, over the adapter's own client (same auth, retries and rate budget).

Clarky documents no way to list a template's enrollments, so sequence members cannot be
discovered; `import` says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.errors import NotFoundError
from reconciler.model import Pipeline
from reconciler.providers._paging import pages_numbered
from reconciler.providers.clarky._client import PAGE, contact_path
from reconciler.providers.clarky._mapping import listed_total, more_pages
from reconciler.providers.clarky.provider import ClarkyProvider


class ClarkyDiscovery:
    """Lists what a Clarky account has; never writes."""

    def __init__(self, provider: ClarkyProvider) -> None:
        self.provider = provider
        self.client = provider.client

    def pipeline(self, name_or_id: str) -> dict[str, Any]:
        """The live pipeline named (or with the id) `name_or_id`; PlanError naming the others."""
        probe = Pipeline(id="import", provider=self.provider.config.name, provider_type="clarky", pipeline=name_or_id)
        return self.provider.catalog.pipeline(probe)

    def stage_names(self, pipeline_id: str) -> dict[str, str]:
        return self.provider.catalog.stage_names(pipeline_id)

    def cards(self, pipeline_id: str) -> Iterator[dict[str, Any]]:
        """Every card of the pipeline, archived ones included, page by page (page_size 100)."""
        params = {"pipeline_id": pipeline_id, "include_archived": "true"}
        yield from pages_numbered(self.client, "/pipeline-cards", params, size=PAGE, more=more_pages,
                                  total=listed_total)

    def contacts(self, bot_id: str | None) -> Iterator[dict[str, Any]]:
        """Every contact (of one bot, when given), page by page."""
        params = {"bot_id": bot_id} if bot_id else {}
        yield from pages_numbered(self.client, "/contacts", params, size=PAGE, more=more_pages,
                                  total=listed_total)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """One contact by id (None when Clarky no longer knows it)."""
        try:
            body = self.client.get(contact_path(contact_id)).json or {}
        except NotFoundError:
            return None
        return body.get("data") if isinstance(body.get("data"), dict) else None
