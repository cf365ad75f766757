"""Clarky pipelines (read-only), stages (read-only, not paginated) and pipeline cards (CRUD).

Choices where the docs are silent: card lists are in creation order; `bot_id` filters cards by
their stage's bot; a card moves only between the stages of its own pipeline (a stage of another
pipeline is a 422 naming pipeline_stage_id); an empty PATCH `{}` is a 400 bad_request (it would
change nothing but `updated_at`); an unknown stage or
contact in a body is a 422 naming the field; order_index defaults to the end of the stage (and
to the end of the new stage on a move without order_index), other cards are not renumbered;
the PATCH answer holds `id`, the fields sent and `updated_at`, as in the documented example
(not the whole card); archived cards are still returned by GET /pipeline-cards/{id}.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.clarky.base import ApiError, ClarkyBase, invalid, missing
from reconciler.sandbox.core import SimRequest, SimResponse, iso, parse_iso

CARD_FIELDS = ("id", "pipeline_stage_id", "contact_id", "title", "description", "tags", "order_index",
               "archived_at", "created_at", "updated_at")
CREATE_FIELDS = {"pipeline_stage_id", "title", "contact_id", "description", "tags", "order_index"}
PATCH_FIELDS = CREATE_FIELDS | {"archived_at"}
CARD_LIST_PARAMS = {"pipeline_id", "pipeline_stage_id", "bot_id", "contact_id", "include_archived", "page", "page_size"}


class PipelinesMixin(ClarkyBase):
    """Pipelines, stages and cards."""

    _stage_tails: dict[str, int] | None = None

    # -- pipelines and stages -----------------------------------------------------------------------
    def list_pipelines(self, req: SimRequest) -> SimResponse:
        self.check_params(req, {"bot_id", "page", "page_size"})
        bot_id = req.q("bot_id")
        items = [p for p in self.coll("pipelines").values() if not bot_id or p["bot_id"] == bot_id]
        return self.paginate(req, items)

    def list_stages(self, req: SimRequest, pipeline_id: str) -> SimResponse:
        self.check_params(req, set())
        if pipeline_id not in self.coll("pipelines"):
            raise ApiError(404, "not_found", f"Pipeline {pipeline_id} not found.")
        return SimResponse(200, {"data": self.stages_of(pipeline_id)})

    def stages_of(self, pipeline_id: str) -> list[dict[str, Any]]:
        """A pipeline's stages sorted by order_index."""
        stages = [s for s in self.coll("stages").values() if s["pipeline_id"] == pipeline_id]
        return sorted(stages, key=lambda s: s["order_index"])

    def pipeline_of(self, stage_id: str) -> str | None:
        """The pipeline a stage belongs to."""
        stage = self.coll("stages").get(stage_id)
        return stage["pipeline_id"] if stage else None

    # -- cards: reads -------------------------------------------------------------------------------
    def list_cards(self, req: SimRequest) -> SimResponse:
        self.check_params(req, CARD_LIST_PARAMS)
        self.page_params(req)  # validate before filtering
        include_archived = self.bool_param(req, "include_archived")
        stage_id, contact_id = req.q("pipeline_stage_id"), req.q("contact_id")
        pipeline_id, bot_id = req.q("pipeline_id"), req.q("bot_id")
        key = ("cards", include_archived, stage_id, contact_id, pipeline_id, bot_id)
        return self.paginate(req, self.listed(("cards", "stages"), key, lambda: self._filter_cards(
            include_archived, stage_id, contact_id, pipeline_id, bot_id)), "cards")

    def _filter_cards(self, include_archived: bool, stage_id: str | None, contact_id: str | None,
                      pipeline_id: str | None, bot_id: str | None) -> list[str]:
        """The ids of the cards these filters keep."""
        stages = self.coll("stages")
        out = []
        for key, card in self.coll("cards").scan():
            if card["archived_at"] and not include_archived:
                continue
            if stage_id and card["pipeline_stage_id"] != stage_id:
                continue
            if contact_id and card["contact_id"] != contact_id:
                continue
            if pipeline_id or bot_id:
                stage = stages.get(card["pipeline_stage_id"]) or {}
                if pipeline_id and stage.get("pipeline_id") != pipeline_id:
                    continue
                if bot_id and stage.get("bot_id") != bot_id:
                    continue
            out.append(key)
        return out

    def card(self, card_id: str) -> dict[str, Any]:
        """The card or a 404 (ApiError)."""
        card = self.coll("cards").get(card_id)
        if card is None:
            raise ApiError(404, "not_found", f"Pipeline card {card_id} not found.")
        return card

    def get_card(self, req: SimRequest, card_id: str) -> SimResponse:
        self.check_params(req, set())
        return SimResponse(200, {"data": self.card(card_id)})

    # -- cards: writes ------------------------------------------------------------------------------
    def create_card(self, req: SimRequest) -> SimResponse:
        body = self.body_object(req, CREATE_FIELDS)
        for name in ("pipeline_stage_id", "title"):
            if body.get(name) is None:
                raise missing(name)
        fields = self.card_fields(body)
        card = self.new_card(fields)
        return SimResponse(201, {"data": card})

    def new_card(self, fields: dict[str, Any], *, card_id: str | None = None, at: str | None = None) -> dict[str, Any]:
        """Store a new card from validated fields; order_index defaults to the stage's end."""
        now = at or self.clock.iso()
        card: dict[str, Any] = {name: None for name in CARD_FIELDS}
        card["tags"] = []
        card.update(fields)
        card.update(id=card_id or self.new_id("pc_"), created_at=now, updated_at=now)
        if card["order_index"] is None:
            card["order_index"] = self._next_order(card["pipeline_stage_id"])
        self._note_order(card)
        self.coll("cards").put(card["id"], card)
        return card

    def update_card(self, req: SimRequest, card_id: str) -> SimResponse:
        card = self.card(card_id)
        body = self.body_object(req, PATCH_FIELDS)
        if not body:
            raise ApiError(400, "bad_request", "Send at least one field to update.")
        fields = self.card_fields(body)
        new_stage = fields.get("pipeline_stage_id")
        if new_stage is not None and self.pipeline_of(new_stage) != self.pipeline_of(card["pipeline_stage_id"]):
            raise invalid("pipeline_stage_id", f"Stage {new_stage} is in another pipeline than the card's stage.")
        self.change_card(card, fields)
        answer = {"id": card["id"], **{name: card[name] for name in body}, "updated_at": card["updated_at"]}
        return SimResponse(200, {"data": answer})

    def change_card(self, card: dict[str, Any], fields: dict[str, Any]) -> None:
        """Apply validated changes; a move without order_index goes to the end of the new stage."""
        moved = "pipeline_stage_id" in fields and fields["pipeline_stage_id"] != card["pipeline_stage_id"]
        card.update(fields)
        if moved and "order_index" not in fields:
            card["order_index"] = self._next_order(card["pipeline_stage_id"])
        self._note_order(card)
        card["updated_at"] = self.clock.iso()
        self.coll("cards").put(card["id"], card)

    def delete_card(self, req: SimRequest, card_id: str) -> SimResponse:
        self.card(card_id)
        self.coll("cards").delete(card_id)
        return SimResponse(204, None)

    def card_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate card body fields (422 naming the field); returns them normalised."""
        out: dict[str, Any] = {}
        for name, value in body.items():
            if name == "pipeline_stage_id":
                if not isinstance(value, str) or value not in self.coll("stages"):
                    raise invalid(name, f"Unknown pipeline stage {value!r}.")
            elif name == "contact_id":
                if value is not None and (not isinstance(value, str) or value not in self.coll("contacts")):
                    raise invalid(name, f"Unknown contact {value!r}.")
            elif name == "title":
                if not isinstance(value, str) or not value.strip():
                    raise invalid(name, "title must be a non-empty string.")
            elif name == "description":
                if value is not None and not isinstance(value, str):
                    raise invalid(name, "description must be a string.")
            elif name == "tags":
                if not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
                    raise invalid(name, "tags must be an array of strings.")
                value = list(value)
            elif name == "order_index":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise invalid(name, "order_index must be a non-negative integer.")
            elif name == "archived_at" and value is not None:
                try:
                    value = iso(parse_iso(value)) if isinstance(value, str) else None
                except ValueError:
                    value = None
                if value is None:
                    raise invalid(name, "archived_at must be an ISO 8601 timestamp or null.")
            out[name] = value
        return out

    # -- order_index bookkeeping (kept in memory so creating N cards stays O(N)) ---------------------
    def _tails(self) -> dict[str, int]:
        tails = self._stage_tails
        if tails is None:
            tails = self._stage_tails = {}
            for card in self.coll("cards").values():
                self._note_order(card)
        return tails

    def _note_order(self, card: dict[str, Any]) -> None:
        tails = self._tails()
        stage = card["pipeline_stage_id"]
        tails[stage] = max(tails.get(stage, 0), card["order_index"] + 1)

    def _next_order(self, stage_id: str) -> int:
        return self._tails().get(stage_id, 0)
