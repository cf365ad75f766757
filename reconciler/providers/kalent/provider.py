"""KalentProvider: reads sourcings, blueprints and candidates' dynamic sequences; starts and blueprint writes.

Choices where the vendor documents nothing (docs/vendors.md, Kalent):
- Auth is the documented `x-api-key` header. Sourcings are listed with the vendor's default
  filters (the key owner's in-progress sourcings); a manifest names one by name or id.
- No list of dynamic sequences exists, so memberships are read one GET per candidate, and only
  when needed: never for a candidate the state cache knows finished/failed, for active/paused ones
  only when older than `status_refresh_minutes` (or `--refresh`), always without a cache entry (a
  lost run may have started it).
- A candidate runs one dynamic sequence at a time: the latest one belonging to another blueprint is
  a `conflict` (a human decides; campaignctl never starts over it), remembered in the cache with
  reason `another_blueprint` so it is re-read rather than forgotten.
- `start` has no idempotency key: it is never retried blind; a lost answer, a 5xx or
  `started: false` makes every member of the batch OutcomeUnknown, resolved by reading.
- Starts are asynchronous: "no sequence" within `start_settle_minutes` of a start proves nothing, so
  resolve_enrollment raises OutcomeUnknown then, and a read keeps a just-started cached enrollment
  (the core's merge does, reconciler/settle_window.py, on what the read reports Kalent showed).
- A candidate the status endpoint does not know (404) never reads as absent (Kalent documents
  `sequence: null` for that): a cached enrollment keeps its last known status with a warning, an
  uncached member is `manual` with the reason (the core's merge again, on the 404 the read reports).
  A status answer without `data.sequence` is an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from reconciler.errors import OutcomeUnknown, ProviderError, ValidationFailed
from reconciler.model import (
    Address,
    Blueprint,
    DesiredState,
    Membership,
    ProviderConfig,
    Sequence,
)
from reconciler.providers.base import BaseProvider, Capabilities, EnrollRequest, EnrollResult
from reconciler.providers.kalent import _mapping, _read
from reconciler.providers.kalent._client import (
    Catalog,
    Target,
    Writer,
    blueprints_path,
    sequence_path,
    start_path,
)
from reconciler.providers.kalent._read import KalentSeen
from reconciler.providers.kalent.spec import KalentConfig
from reconciler.read_input import ReadInput
from reconciler.settle_window import earlier_attempt, leeway
from reconciler.snapshot import (
    ACTIVE,
    LiveBlueprint,
    LiveMembership,
    LiveSnapshot,
)
from reconciler.timeutil import age_seconds, utcnow

__all__ = ["KalentProvider"]
log = logging.getLogger(__name__)


class KalentProvider(BaseProvider):
    """A Kalent workspace (recruiting: sourcings, blueprints, candidates)."""

    capabilities = Capabilities(can_list_memberships=False, can_stop_membership=False, card_kind=None,
                                can_archive_cards=False, can_delete_cards=False, supports_blueprints=True,
                                enroll_batch_size=_mapping.BATCH_SIZE)
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "cards": "Kalent has no pipelines or cards; declare pipelines on a clarky or garyclub provider",
    }

    def __init__(self, config: ProviderConfig, api_key: str, **options: Any) -> None:
        super().__init__(KalentConfig.of(config), api_key, **options)
        self.config: KalentConfig = KalentConfig.of(config)
        self.settle_seconds = self.config.start_settle_minutes * 60  # a start this recent may not show yet
        self.catalog = Catalog(self.client)
        self.writer = Writer(self.client)
        self._created: dict[tuple[str, str], str] = {}  # (sourcing id, name) -> blueprint id created here
        self._sent: dict[str, tuple[Address, int]] = {}  # candidate -> (member, attempt) a start (maybe) went out for

    def auth_headers(self, config: ProviderConfig, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    # -- read -------------------------------------------------------------------------------------
    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        """Blueprints and memberships of this provider; status reads only for what the core put in `given.to_read`."""
        return _read.read(self, desired, given)

    # -- names -> ids -----------------------------------------------------------------------------
    def _target_for(self, seq: Sequence, seen: KalentSeen | None) -> Target:
        """The target for a write: from the read apply hands back, completed by a blueprint created since."""
        target = seen.targets.get(seq.id) if seen is not None else None
        if target is None:  # no read: only a Kalent blueprint id can be resolved
            sourcing_id = self.catalog.sourcing_id(seq.sourcing, f"{seq.loc}: sequence {seq.id!r}")
            listed = self.catalog.blueprints(sourcing_id, fresh=True)
            item = next((i for i in listed if i.get("blueprintId") == seq.target), None)
            target = Target(sourcing_id, seq.target if item else None, item.get("name") if item else None, seq.target)
        if target.blueprint_id is None and target.blueprint_name is not None:
            blueprint_id = self._created.get((target.sourcing_id, target.blueprint_name))
            if blueprint_id is None:
                item = next((i for i in self.catalog.blueprints(target.sourcing_id, fresh=True)
                             if i.get("name") == target.blueprint_name), None)
                blueprint_id = item.get("blueprintId") if item else None
            target = dataclasses.replace(target, blueprint_id=blueprint_id)  # the read's value stays as read
        return target

    # -- enrollments ------------------------------------------------------------------------------
    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *,
               seen: KalentSeen | None = None) -> list[EnrollResult]:
        """One `start` for the whole batch; never retried blind (no idempotency key exists)."""
        if len(batch) > _mapping.BATCH_SIZE:
            raise ValueError(f"a Kalent start carries at most {_mapping.BATCH_SIZE} candidates, not {len(batch)}")
        if not batch:
            return []
        target = self._target_for(sequence, seen)
        if target.blueprint_id is None:
            err = ProviderError(self.config.name, "POST",
                                blueprints_path(target.sourcing_id), None,
                                f"blueprint {target.label!r} does not exist in Kalent yet; apply it first. "
                                "Nothing was sent")
            return [EnrollResult(r.membership.address, error=err) for r in batch]
        refused = self._already_started(batch)
        started = iter(self._start(target.blueprint_id, [r for i, r in enumerate(batch) if i not in refused]))
        return [refused[i] if i in refused else next(started) for i in range(len(batch))]  # in the order asked

    def _already_started(self, batch: list[EnrollRequest]) -> dict[int, EnrollResult]:
        """Refusals by position in the batch: a candidate this process already sent a start for (for
        another member, or for this one at the same attempt), or that appears earlier in the batch, is
        never sent again: one person, one start per apply. A deliberate retry (higher attempt) is not."""
        refused: dict[int, EnrollResult] = {}
        first_in_batch: dict[str, Address] = {}
        for i, request in enumerate(batch):
            candidate = request.membership.candidate_id or ""
            sent = self._sent.get(candidate)
            earlier = sent[0] if sent is not None and (sent[0] != request.membership.address
                                                        or request.attempt <= sent[1]) else None
            earlier = earlier or first_in_batch.get(candidate)
            if earlier is None:
                first_in_batch[candidate] = request.membership.address
                continue
            refused[i] = EnrollResult(request.membership.address, error=ValidationFailed(
                self.config.name, "POST", "/sequence-blueprints/{id}/start", None,
                f"candidate {candidate} was already started in this apply (for {earlier}); nothing was sent",
                code="already_started"))
        return refused

    def _start(self, blueprint_id: str, batch: list[EnrollRequest]) -> list[EnrollResult]:
        """One start call. A refusal naming candidates (404, or a 400 about candidates) sent nothing, as
        every 4xx: the batch is split in halves and each half tried, so one bad candidate id does not
        block the other 99 on every run (a few extra calls, never a repeated one for a started member)."""
        if not batch:
            return []
        try:
            reply = self.writer.start(blueprint_id, [r.membership.candidate_id for r in batch])
        except OutcomeUnknown as exc:
            self._sent.update({r.membership.candidate_id or "": (r.membership.address, r.attempt) for r in batch})
            return [EnrollResult(r.membership.address, error=exc) for r in batch]
        except ProviderError as exc:
            if len(batch) > 1 and _mapping.about_candidates(exc):
                half = len(batch) // 2
                return self._start(blueprint_id, batch[:half]) + self._start(blueprint_id, batch[half:])
            err = _mapping.explain_start_error(exc)
            return [EnrollResult(r.membership.address, error=err, request_id=exc.request_id) for r in batch]
        self._sent.update({r.membership.candidate_id or "": (r.membership.address, r.attempt) for r in batch})
        data = _mapping.data_of(reply.json) or {}
        if not data.get("started"):
            err = OutcomeUnknown(self.config.name, "POST", start_path(blueprint_id), reply.status,
                                 "Kalent answered started=false; whether anything was dispatched is resolved "
                                 "by reading",
                                 request_id=reply.request_id)
            return [EnrollResult(r.membership.address, error=err, request_id=reply.request_id) for r in batch]
        now = utcnow(self.clock)
        return [EnrollResult(r.membership.address, request_id=reply.request_id, live=LiveMembership(
            address=r.membership.address, remote_id=None, status=ACTIVE, vendor_status="STARTED", attempt=r.attempt,
            since=now, observed_at=now, contact_remote_id=r.membership.candidate_id)) for r in batch]

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: KalentSeen | None = None) -> LiveMembership | None:
        """Read the candidate's latest dynamic sequence; OutcomeUnknown while a start may still be settling.
        `seen.previous` names the sequence the plan was based on: showing that one is not our start."""
        target = self._target_for(sequence, seen)
        member: Membership = request.membership
        candidate = member.candidate_id or ""
        path = sequence_path(candidate)
        found = self.catalog.sequence_of(candidate)
        now = self.clock.now()
        age = age_seconds(sent_at, now)
        settling = age is not None and age < self.settle_seconds
        previous = seen.previous.get(member.address) if seen is not None else None
        earlier = found is not None and earlier_attempt(found.get("sequenceId"), _mapping.to_status(found).status,
                                                        previous, _mapping.started_at(found), sent_at, now,
                                                        leeway(self.settle_seconds))
        if found is not None and _mapping.belongs_to(found, target.blueprint_id, target.blueprint_name) and not earlier:
            return _mapping.to_membership(member.address, found, candidate_id=candidate, attempt=request.attempt,
                                            observed_at=utcnow(self.clock))
        if settling:
            raise OutcomeUnknown(self.config.name, "GET", path, 200,
                                 f"the start sent at {sent_at} is not visible yet (Kalent starts asynchronously); "
                                 "resolved by reading on a later run")
        if found is not None and not _mapping.belongs_to(found, target.blueprint_id, target.blueprint_name):
            return _mapping.to_membership(member.address, found, candidate_id=candidate, attempt=request.attempt,
                                            observed_at=utcnow(self.clock),
                                            conflict=_mapping.conflict_text(candidate, found, target.label))
        return None

    # -- blueprints -------------------------------------------------------------------------------
    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        """POST the blueprint with its steps (not idempotent: a lost answer is resolved by find_blueprint)."""
        sourcing_id = self.catalog.blueprint_sourcing(blueprint)
        reply = self.writer.create_blueprint(sourcing_id, _mapping.blueprint_body(blueprint.name, blueprint.steps))
        item = {"sourcingId": sourcing_id, **(_mapping.data_of(reply.json) or {})}
        live = _mapping.to_blueprint(blueprint.address, item, fallback_steps=blueprint.steps)
        self._created[(sourcing_id, blueprint.name)] = live.remote_id
        self.catalog.listings.pop(sourcing_id, None)
        return live

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        """Read-only: the blueprint of this name in its sourcing, listed afresh."""
        sourcing_id = self.catalog.blueprint_sourcing(blueprint)
        return _mapping.match_blueprint(blueprint, self.catalog.blueprints(sourcing_id, fresh=True))

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        """PATCH name and the whole step list (a full replacement, so repeating it changes nothing)."""
        reply = self.writer.update_blueprint(live.remote_id, _mapping.blueprint_body(blueprint.name, blueprint.steps))
        item = {"blueprintId": live.remote_id, "sourcingId": live.sourcing_id, **(_mapping.data_of(reply.json) or {})}
        if live.sourcing_id:
            self.catalog.listings.pop(live.sourcing_id, None)
        return _mapping.to_blueprint(blueprint.address, item, fallback_steps=blueprint.steps)
