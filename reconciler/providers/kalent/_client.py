"""Kalent's HTTP requests: the lookups one provider instance shares between its read and its writes
(`Catalog`), and the writes (`Writer`), which only send and return the answer.

Sourcings are listed once per instance (the vendor's default filters: the key owner's in-progress
sourcings) and named by id or by name; a sourcing's blueprints are listed once per read; a
candidate's dynamic sequence is one GET (Kalent has no list of them). Every list is page-numbered
from 0 at the documented maximum page size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import PlanError
from reconciler.model import Blueprint, DesiredState, Sequence
from reconciler.providers._http import Reply, VendorClient
from reconciler.providers._paging import field_at, pages_numbered
from reconciler.providers._paths import seg
from reconciler.providers.kalent._mapping import PAGE_SIZE, listed_total, match_blueprint, more_pages


def blueprints_path(sourcing_id: str) -> str:
    return f"/sourcings/{seg(sourcing_id)}/sequence-blueprints"


def blueprint_path(blueprint_id: str) -> str:
    return f"/sequence-blueprints/{seg(blueprint_id)}"


def start_path(blueprint_id: str) -> str:
    return f"/sequence-blueprints/{seg(blueprint_id)}/start"


def sequence_path(candidate_id: str) -> str:
    return f"/candidates/{seg(candidate_id)}/dynamic-sequence"


@dataclass
class Target:
    """Where a sequence starts: its sourcing and blueprint (id None until the blueprint exists)."""

    sourcing_id: str
    blueprint_id: str | None
    blueprint_name: str | None
    label: str  # how the manifest names it, for messages


class Catalog:
    """Sourcings and their blueprints, fetched on demand and kept; candidates' sequences, read each time."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client
        self._sourcings: list[dict[str, Any]] | None = None
        self.listings: dict[str, list[dict[str, Any]]] = {}  # sourcing id -> blueprints, for one read

    def _pages(self, path: str, items_key: str, *, page_param: str = "page") -> Iterator[dict[str, Any]]:
        return pages_numbered(self.client, path, {}, page_param=page_param, size_param="pageSize", size=PAGE_SIZE,
                              first_page=0, items_key=items_key, more=more_pages, total=listed_total)

    # -- sourcings and blueprints -----------------------------------------------------------------
    def sourcings(self) -> list[dict[str, Any]]:
        if self._sourcings is None:
            self._sourcings = list(self._pages("/sourcings", "data.sourcings"))
        return self._sourcings

    def sourcing_id(self, sourcing: str | None, who: str) -> str:
        """A sourcing name or id -> id; PlanError naming the sourcings that exist."""
        items = self.sourcings()
        for item in items:
            if item.get("sourcingId") == sourcing:
                return str(item["sourcingId"])
        named = [i for i in items if i.get("name") == sourcing]
        if len(named) == 1:
            return str(named[0]["sourcingId"])
        available = ", ".join(f"{i.get('name')!r} ({i.get('sourcingId')})" for i in items) or "none"
        if named:
            raise PlanError(f"{self.client.vendor}: {who}: {len(named)} Kalent sourcings are named {sourcing!r}; "
                            f"name it by id instead (sourcings: {available})")
        raise PlanError(f"{self.client.vendor}: {who}: no Kalent sourcing {sourcing!r} (sourcings: {available})")

    def blueprints(self, sourcing_id: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        """The sourcing's blueprints (every page), listed once per read unless `fresh`."""
        if fresh or sourcing_id not in self.listings:
            self.listings[sourcing_id] = list(self._pages(blueprints_path(sourcing_id), "data.blueprints"))
        return self.listings[sourcing_id]

    def blueprint_sourcing(self, blueprint: Blueprint) -> str:
        """The id of the sourcing a manifest blueprint lives in."""
        return self.sourcing_id(blueprint.sourcing, f"{blueprint.loc}: blueprint {blueprint.id!r}")

    def target(self, seq: Sequence, desired: DesiredState) -> Target:
        """`seq.target` is a manifest blueprint id (matched by name in its sourcing) or a Kalent blueprint id."""
        sourcing_id = self.sourcing_id(seq.sourcing, f"{seq.loc}: sequence {seq.id!r}")
        items = self.blueprints(sourcing_id)
        declared = next((b for b in desired.blueprints if b.provider == seq.provider and b.id == seq.target), None)
        if declared is not None:
            live = match_blueprint(declared, items)
            return Target(sourcing_id, live.remote_id if live else None, declared.name, declared.id)
        for item in items:
            if item.get("blueprintId") == seq.target:
                return Target(sourcing_id, seq.target, item.get("name"), seq.target)
        available = ", ".join(f"{i.get('name')!r} ({i.get('blueprintId')})" for i in items) or "none"
        raise PlanError(f"{seq.loc}: sequence {seq.id!r}: blueprint {seq.target!r} is neither declared in this project "
                        f"nor a blueprint of sourcing {seq.sourcing!r} (its blueprints: {available})")

    # -- candidates -------------------------------------------------------------------------------
    def candidates(self, sourcing_id: str) -> Iterator[dict[str, Any]]:
        """The sourcing's candidates (the vendor's default filter: every status but NOT_RETAINED)."""
        return self._pages(f"/sourcings/{seg(sourcing_id)}/candidates", "data.candidates", page_param="pageIndex")

    def sequence_of(self, candidate_id: str) -> dict[str, Any] | None:
        """The candidate's latest dynamic sequence (None: none)."""
        path = sequence_path(candidate_id)
        reply = self.client.get(path)
        # Documented: data.sequence is null (none) or the latest sequence. Anything else proves nothing.
        present, sequence = field_at(reply.json, "data.sequence")
        if not present or not (sequence is None or isinstance(sequence, Mapping)):
            raise self.client.malformed(path, reply, "the documented 'data.sequence' (null or an object)")
        if sequence is not None and not (sequence.get("sequenceId") and sequence.get("displayStatus")):
            raise self.client.malformed(path, reply, "the sequence's documented 'sequenceId' and 'displayStatus'")
        return dict(sequence) if sequence is not None else None


class Writer:
    """Kalent's writes: each sends one request and returns the answer; what to send and what the
    answer means is the provider's business. Retries follow `VendorClient.write`."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client

    def start(self, blueprint_id: str, candidate_ids: list[str | None]) -> Reply:
        """POST a start: Kalent has no idempotency key, so a lost answer is OutcomeUnknown, never re-sent."""
        return self.client.write("POST", start_path(blueprint_id), json={"candidateIds": candidate_ids},
                                 idempotent=False)

    def create_blueprint(self, sourcing_id: str, body: dict[str, Any]) -> Reply:
        """POST a blueprint (not idempotent: a lost answer is settled by find_blueprint)."""
        return self.client.write("POST", blueprints_path(sourcing_id), json=body, idempotent=False)

    def update_blueprint(self, blueprint_id: str, body: dict[str, Any]) -> Reply:
        """PATCH name and every step: a full replacement, so repeating it changes nothing (retried)."""
        return self.client.write("PATCH", blueprint_path(blueprint_id), json=body, idempotent=True)
