"""Read-only discovery of a Clarky workspace for `campaignctl import`: pipelines, stages, cards and
their contacts, as the neutral records of providers/discovered.py. Only GETs, over the adapter's
own client (same auth, retries and rate budget).

Contacts are listed filtered by the pipeline's bot (its cards' contacts are nearly always that
bot's); a contact of another bot is fetched by id. Clarky documents no way to list a template's
enrollments, so sequence members cannot be discovered; `import` says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.errors import NotFoundError
from reconciler.model import Pipeline
from reconciler.providers._paging import pages_numbered
from reconciler.providers.clarky._client import PAGE, contact_path
from reconciler.providers.clarky._mapping import (
    listed_total,
    more_pages,
    to_found_card,
    to_found_contact,
    to_found_pipeline,
)
from reconciler.providers.clarky.provider import ClarkyProvider
from reconciler.providers.discovered import FoundCard, FoundContact, FoundPipeline


class ClarkyDiscovery:
    """Lists what a Clarky account has; never writes."""

    page = PAGE

    def __init__(self, provider: ClarkyProvider) -> None:
        self.provider = provider
        self.client = provider.client
        self._bots: dict[str, str | None] = {}  # pipeline id -> the bot it belongs to
        self._stages: dict[str, dict[str, str]] = {}  # pipeline id -> stage id -> name

    def pipeline(self, name_or_id: str) -> FoundPipeline:
        """The live pipeline named (or with the id) `name_or_id`, with its stages; PlanError naming the others."""
        probe = Pipeline(id="import", provider=self.provider.config.name, provider_type="clarky", pipeline=name_or_id)
        data = self.provider.catalog.pipeline(probe)
        found = to_found_pipeline(data)
        self._bots[found.remote_id] = data.get("bot_id")
        self._stages[found.remote_id] = self.provider.catalog.stage_names(data["id"])
        return found

    def cards(self, pipeline: FoundPipeline) -> Iterator[FoundCard]:
        """Every card of the pipeline, archived ones included, page by page (page_size 100)."""
        params = {"pipeline_id": pipeline.remote_id, "include_archived": "true"}
        stages = self._stages[pipeline.remote_id]
        for data in pages_numbered(self.client, "/pipeline-cards", params, size=PAGE, more=more_pages,
                                   total=listed_total):
            yield to_found_card(data, stages)

    def contacts(self, pipeline: FoundPipeline) -> Iterator[FoundContact]:
        """Every contact of the pipeline's bot (every contact, when it has none), page by page."""
        bot_id = self._bots.get(pipeline.remote_id)
        params = {"bot_id": bot_id} if bot_id else {}
        for data in pages_numbered(self.client, "/contacts", params, size=PAGE, more=more_pages, total=listed_total):
            yield to_found_contact(data)

    def contact(self, remote_id: str) -> FoundContact | None:
        """One contact by id (None when Clarky no longer knows it)."""
        try:
            body = self.client.get(contact_path(remote_id)).json or {}
        except NotFoundError:
            return None
        data = body.get("data")
        return to_found_contact(data) if isinstance(data, dict) else None
