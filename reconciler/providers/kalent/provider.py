"""KalentProvider: reads sourcings, blueprints and candidates' dynamic sequences; starts and blueprint writes.

The vendor choices it makes are listed in the package docstring (reconciler/providers/kalent/__init__.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from reconciler.errors import ConfigError, NotFoundError, OutcomeUnknown, PlanError, ProviderError, ValidationFailed
from reconciler.model import (Address, Blueprint, Card, Contact, DesiredState, Membership, Pipeline, ProviderConfig,
                              Sequence)
from reconciler.providers._http import VendorClient
from reconciler.providers._paging import field_at, pages_numbered
from reconciler.providers._paths import seg
from reconciler.providers.base import Capabilities, CardUpdate, EnrollRequest, EnrollResult, ReadContext
from reconciler.providers.kalent import _api, _window
from reconciler.providers.kalent._read import dispatching, from_cache, older_than, start_never_showed
from reconciler.snapshot import (ACTIVE, FAILED, FINISHED, PAUSED, UNSEEN, CacheEntry, LiveBlueprint, LiveCard,
                                 LiveMembership, LiveSnapshot)
from reconciler.timeutil import age_seconds

__all__ = ["KalentProvider"]
log = logging.getLogger(__name__)


@dataclass
class _Target:
    """Where a sequence starts: its sourcing and blueprint (id None until the blueprint exists)."""

    sourcing_id: str
    blueprint_id: str | None
    blueprint_name: str | None
    label: str  # how the manifest names it, for messages


class KalentProvider:
    """A Kalent workspace (recruiting: sourcings, blueprints, candidates)."""

    capabilities = Capabilities(can_list_memberships=False, can_stop_membership=False, card_kind=None,
                                supports_blueprints=True, enroll_batch_size=_api.BATCH_SIZE)

    def __init__(self, config: ProviderConfig, api_key: str, *, transport: httpx.BaseTransport | None = None,
                 **client_options: Any) -> None:
        """`client_options` go to VendorClient.for_provider (tests pass a fake `sleep` and `clock`)."""
        self.config = config
        self._settle_seconds = config.start_settle_minutes * 60  # asynchronous starts: absence proves nothing before
        self.client = VendorClient.for_provider(config, api_key, headers={"x-api-key": api_key},
                                                transport=transport, **client_options)
        self._sourcings: list[dict[str, Any]] | None = None
        self._listings: dict[str, list[dict[str, Any]]] = {}  # sourcing id -> blueprints, for one read
        self._targets: dict[str, _Target] = {}  # sequence id -> target, kept from read for enroll
        self._created: dict[tuple[str, str], str] = {}  # (sourcing id, name) -> blueprint id created here
        # address -> the dynamic sequence the plan was based on: a later start is a different one
        self._previous: dict[Address, str | None] = {}
        self._sent: dict[str, tuple[Address, int]] = {}  # candidate -> (member, attempt) a start (maybe) went out for

    # -- read -------------------------------------------------------------------------------------
    def read(self, desired: DesiredState, ctx: ReadContext) -> LiveSnapshot:
        """Blueprints and memberships of this provider; status reads only where the cache cannot answer."""
        before = sum(self.client.counts.values())
        snap = LiveSnapshot()
        self._listings = {}
        name = self.config.name
        for bp in (b for b in desired.blueprints if b.provider == name):
            sourcing_id = self._sourcing_id(bp.sourcing, f"{bp.loc}: blueprint {bp.id!r}")
            found = self._match_blueprint(bp, self._listing(sourcing_id))
            if found is not None:
                snap.blueprints[bp.address] = found
        declared: set[Address] = set()
        for seq in (s for s in desired.sequences if s.provider == name):
            target = self._targets[seq.id] = self._resolve_target(seq, desired)
            for member in seq.members:
                declared.add(member.address)
                lm = self._member(member.address, member.candidate_id, target, ctx.cache.get(member.address), ctx, snap)
                self._previous[member.address] = lm.remote_id if lm is not None else None
                if lm is not None:
                    snap.memberships[member.address] = lm
        self._read_orphans(ctx, declared, snap)
        snap.requests[name] = sum(self.client.counts.values()) - before
        return snap

    def _read_orphans(self, ctx: ReadContext, declared: set[Address], snap: LiveSnapshot) -> None:
        """Cached memberships no longer declared: kept so the planner can report them (re-read when stale)."""
        for address, entry in sorted(ctx.cache.items()):
            if address.provider != self.config.name or address.kind != "membership" or address in declared:
                continue
            if entry.status == UNSEEN:  # only ever read as absent: nothing to report
                continue
            target = self._targets.get(address.group)
            candidate = dict(entry.extra).get("contact")
            if target is None or not candidate or not self._needs_read(entry, ctx):
                snap.memberships[address] = from_cache(address, entry)
                continue
            lm = self._member(address, candidate, target, entry, ctx, snap, orphan=True)
            if lm is not None:
                snap.memberships[address] = lm

    def _member(self, address: Address, candidate_id: str | None, target: _Target, cached: CacheEntry | None,
                ctx: ReadContext, snap: LiveSnapshot, *, orphan: bool = False) -> LiveMembership | None:
        """The live membership of one candidate, from the cache when it is final or fresh enough."""
        watch = cached if cached is not None and cached.status == UNSEEN else None
        cached = None if watch is not None else cached
        if cached is not None and not self._needs_read(cached, ctx):
            return from_cache(address, cached)
        if not candidate_id:
            snap.warnings.append(f"{address}: no Kalent candidate id; cannot read its status")
            return None
        try:
            sequence = self._sequence_of(candidate_id)
        except NotFoundError as exc:
            if cached is not None:  # we started it: calling it absent would plan a second start
                snap.warnings.append(f"{address}: Kalent does not know candidate {candidate_id} "
                                     f"({exc.vendor_message}); "
                                     f"kept its last known status {cached.vendor_status or cached.status!r}")
                return from_cache(address, cached)
            # Kalent documents `sequence: null` for "none"; a 404 proves nothing about a sequence.
            snap.unproven[address] = (f"Kalent answered 404 for candidate {candidate_id}'s sequence status "
                                      f"({exc.vendor_message}); that does not prove it has none, so nothing is "
                                      "started: check the candidate id in Kalent")
            return None
        observed = _api.now_iso()
        attempt = cached.attempt if cached is not None else 0
        if dispatching(cached, sequence, self._settle_seconds):
            return from_cache(address, cached)
        if start_never_showed(cached, sequence):
            # Kalent accepted our start, yet after the settle window it still shows only an earlier
            # sequence: that is the previous attempt, not a failed one; starting again could send twice.
            since = str(dict(cached.extra).get("since"))[:16].replace("T", " ")
            snap.unproven[address] = (
                f"Kalent accepted a start for candidate {candidate_id} at {since} UTC, but still shows only the "
                f"earlier sequence {sequence.get('sequenceId')} ({sequence.get('displayStatus')}): check it in "
                "Kalent; nothing is started again while the state remembers that start")
            return None
        if sequence is None:
            if cached is None and not orphan:
                self._judge_absence(address, candidate_id, watch, ctx, snap)
            return None  # with a cached enrollment: known, now absent, which the engine reports
        if _api.belongs_to(sequence, target.blueprint_id, target.blueprint_name):
            return _api.membership_from_api(address, candidate_id, sequence, attempt=attempt, observed_at=observed)
        if orphan:
            return from_cache(address, cached) if cached is not None else None
        conflict = _api.conflict_text(candidate_id, sequence, target.label)
        return _api.membership_from_api(address, candidate_id, sequence, attempt=attempt, observed_at=observed,
                                        conflict=conflict)

    def _judge_absence(self, address: Address, candidate_id: str, watch: CacheEntry | None, ctx: ReadContext,
                       snap: LiveSnapshot) -> None:
        """"No sequence" is proof only across the dispatch window (see _window.py)."""
        others = _window.same_candidate(dict(ctx.cache), self.config.name, address, candidate_id)
        verdict = _window.judge_absence(address, candidate_id, watch, others, settle_seconds=self._settle_seconds,
                                        now=_api.now_iso())
        if verdict.action == "wait":
            snap.settling[address] = verdict.reason
            if verdict.first_seen:
                snap.absent_seen[address] = (candidate_id, verdict.first_seen)
        elif verdict.action == "manual":
            snap.unproven[address] = verdict.reason

    def _needs_read(self, cached: CacheEntry, ctx: ReadContext) -> bool:
        """Final statuses are never re-read; others when stale or on --refresh."""
        extra = dict(cached.extra)
        if cached.status in (FINISHED, FAILED) and extra.get("reason") != _api.CONFLICT_REASON:
            return False
        if ctx.refresh or cached.status not in (ACTIVE, PAUSED, FINISHED, FAILED):
            return True
        age = age_seconds(cached.observed_at)
        return age is None or age >= self.config.status_refresh_minutes * 60

    def _sequence_of(self, candidate_id: str) -> dict[str, Any] | None:
        """The candidate's latest dynamic sequence (None: none)."""
        path = f"/candidates/{seg(candidate_id)}/dynamic-sequence"
        reply = self.client.get(path)
        # Documented: data.sequence is null (none) or the latest sequence. Anything else proves nothing.
        present, sequence = field_at(reply.json, "data.sequence")
        if not present or not (sequence is None or isinstance(sequence, Mapping)):
            raise self.client.malformed(path, reply, "the documented 'data.sequence' (null or an object)")
        if sequence is not None and not (sequence.get("sequenceId") and sequence.get("displayStatus")):
            raise self.client.malformed(path, reply, "the sequence's documented 'sequenceId' and 'displayStatus'")
        return dict(sequence) if sequence is not None else None

    # -- names -> ids -----------------------------------------------------------------------------
    def _all_sourcings(self) -> list[dict[str, Any]]:
        if self._sourcings is None:
            self._sourcings = list(pages_numbered(self.client, "/sourcings", {}, page_param="page",
                                                  size_param="pageSize", size=_api.PAGE_SIZE, first_page=0,
                                                  items_key="data.sourcings", more=_api.has_next,
                                                  total=_api.listed_total))
        return self._sourcings

    def _sourcing_id(self, sourcing: str | None, who: str) -> str:
        """A sourcing name or id -> id; PlanError naming the sourcings that exist."""
        items = self._all_sourcings()
        for item in items:
            if item.get("sourcingId") == sourcing:
                return str(item["sourcingId"])
        named = [i for i in items if i.get("name") == sourcing]
        if len(named) == 1:
            return str(named[0]["sourcingId"])
        available = ", ".join(f"{i.get('name')!r} ({i.get('sourcingId')})" for i in items) or "none"
        if named:
            raise PlanError(f"{self.config.name}: {who}: {len(named)} Kalent sourcings are named {sourcing!r}; "
                            f"name it by id instead (sourcings: {available})")
        raise PlanError(f"{self.config.name}: {who}: no Kalent sourcing {sourcing!r} (sourcings: {available})")

    def _listing(self, sourcing_id: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        """The sourcing's blueprints (every page), listed once per read unless `fresh`."""
        if fresh or sourcing_id not in self._listings:
            self._listings[sourcing_id] = list(pages_numbered(
                self.client, f"/sourcings/{seg(sourcing_id)}/sequence-blueprints", {}, page_param="page",
                size_param="pageSize", size=_api.PAGE_SIZE, first_page=0, items_key="data.blueprints",
                more=_api.has_next, total=_api.listed_total))
        return self._listings[sourcing_id]

    def _match_blueprint(self, bp: Blueprint, items: list[dict[str, Any]]) -> LiveBlueprint | None:
        named = [i for i in items if i.get("name") == bp.name]
        if len(named) > 1:
            log.warning("%s: %d Kalent blueprints are named %r; using the first", bp.address, len(named), bp.name)
        return _api.blueprint_from_api(bp.address, named[0]) if named else None

    def _resolve_target(self, seq: Sequence, desired: DesiredState) -> _Target:
        """`seq.target` is a manifest blueprint id (matched by name in its sourcing) or a Kalent blueprint id."""
        sourcing_id = self._sourcing_id(seq.sourcing, f"{seq.loc}: sequence {seq.id!r}")
        items = self._listing(sourcing_id)
        declared = next((b for b in desired.blueprints if b.provider == seq.provider and b.id == seq.target), None)
        if declared is not None:
            live = self._match_blueprint(declared, items)
            return _Target(sourcing_id, live.remote_id if live else None, declared.name, declared.id)
        for item in items:
            if item.get("blueprintId") == seq.target:
                return _Target(sourcing_id, seq.target, item.get("name"), seq.target)
        available = ", ".join(f"{i.get('name')!r} ({i.get('blueprintId')})" for i in items) or "none"
        raise PlanError(f"{seq.loc}: sequence {seq.id!r}: blueprint {seq.target!r} is neither declared in this project "
                        f"nor a blueprint of sourcing {seq.sourcing!r} (its blueprints: {available})")

    def _target_for(self, seq: Sequence) -> _Target:
        """The target for a write: from the read, completed by a blueprint created since."""
        target = self._targets.get(seq.id)
        if target is None:  # no read in this process: only a Kalent blueprint id can be resolved
            sourcing_id = self._sourcing_id(seq.sourcing, f"{seq.loc}: sequence {seq.id!r}")
            item = next((i for i in self._listing(sourcing_id, fresh=True) if i.get("blueprintId") == seq.target), None)
            target = _Target(sourcing_id, seq.target if item else None, item.get("name") if item else None, seq.target)
        if target.blueprint_id is None and target.blueprint_name is not None:
            target.blueprint_id = self._created.get((target.sourcing_id, target.blueprint_name))
            if target.blueprint_id is None:
                item = next((i for i in self._listing(target.sourcing_id, fresh=True)
                             if i.get("name") == target.blueprint_name), None)
                target.blueprint_id = item.get("blueprintId") if item else None
        return target

    # -- enrollments ------------------------------------------------------------------------------
    def enroll(self, sequence: Sequence, batch: list[EnrollRequest]) -> list[EnrollResult]:
        """One `start` for the whole batch; never retried blind (no idempotency key exists)."""
        if len(batch) > _api.BATCH_SIZE:
            raise ValueError(f"a Kalent start carries at most {_api.BATCH_SIZE} candidates, not {len(batch)}")
        if not batch:
            return []
        target = self._target_for(sequence)
        if target.blueprint_id is None:
            err = ProviderError(self.config.name, "POST",
                                f"/sourcings/{seg(target.sourcing_id)}/sequence-blueprints", None,
                                f"blueprint {target.label!r} does not exist in Kalent yet; apply it first. "
                                "Nothing was sent")
            return [EnrollResult(r.membership.address, error=err) for r in batch]
        refused = self._already_started(batch)
        started = iter(self._start(f"/sequence-blueprints/{seg(target.blueprint_id)}/start",
                                   [r for i, r in enumerate(batch) if i not in refused]))
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

    def _start(self, path: str, batch: list[EnrollRequest]) -> list[EnrollResult]:
        """One start call. A refusal naming candidates (404, or a 400 about candidates) sent nothing, as
        every 4xx: the batch is split in halves and each half tried, so one bad candidate id does not
        block the other 99 on every run (a few extra calls, never a repeated one for a started member)."""
        if not batch:
            return []
        body = {"candidateIds": [r.membership.candidate_id for r in batch]}
        try:
            reply = self.client.write("POST", path, json=body, idempotent=False)
        except OutcomeUnknown as exc:
            self._sent.update({r.membership.candidate_id or "": (r.membership.address, r.attempt) for r in batch})
            return [EnrollResult(r.membership.address, error=exc) for r in batch]
        except ProviderError as exc:
            if len(batch) > 1 and _api.about_candidates(exc):
                half = len(batch) // 2
                return self._start(path, batch[:half]) + self._start(path, batch[half:])
            err = _api.explain_start_error(exc)
            return [EnrollResult(r.membership.address, error=err, request_id=exc.request_id) for r in batch]
        self._sent.update({r.membership.candidate_id or "": (r.membership.address, r.attempt) for r in batch})
        data = _api.data_of(reply.json) or {}
        if not data.get("started"):
            err = OutcomeUnknown(self.config.name, "POST", path, reply.status,
                                 "Kalent answered started=false; whether anything was dispatched is resolved "
                                 "by reading",
                                 request_id=reply.request_id)
            return [EnrollResult(r.membership.address, error=err, request_id=reply.request_id) for r in batch]
        now = _api.now_iso()
        return [EnrollResult(r.membership.address, request_id=reply.request_id, live=LiveMembership(
            address=r.membership.address, remote_id=None, status=ACTIVE, vendor_status="STARTED", attempt=r.attempt,
            since=now, observed_at=now, contact_remote_id=r.membership.candidate_id)) for r in batch]

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *,
                           sent_at: str | None = None) -> LiveMembership | None:
        """Read the candidate's latest dynamic sequence; OutcomeUnknown while a start may still be settling."""
        target = self._target_for(sequence)
        member: Membership = request.membership
        candidate = member.candidate_id or ""
        path = f"/candidates/{seg(candidate)}/dynamic-sequence"
        found = self._sequence_of(candidate)
        age = age_seconds(sent_at)
        settling = age is not None and age < self._settle_seconds
        previous = self._previous.get(member.address)
        earlier = found is not None and ((previous is not None and found.get("sequenceId") == previous)
                                         or older_than(found, sent_at))
        if found is not None and _api.belongs_to(found, target.blueprint_id, target.blueprint_name) and not earlier:
            return _api.membership_from_api(member.address, candidate, found, attempt=request.attempt,
                                            observed_at=_api.now_iso())
        if settling:
            raise OutcomeUnknown(self.config.name, "GET", path, 200,
                                 f"the start sent at {sent_at} is not visible yet (Kalent starts asynchronously); "
                                 "resolved by reading on a later run")
        if found is not None and not _api.belongs_to(found, target.blueprint_id, target.blueprint_name):
            return _api.membership_from_api(member.address, candidate, found, attempt=request.attempt,
                                            observed_at=_api.now_iso(),
                                            conflict=_api.conflict_text(candidate, found, target.label))
        return None

    # -- blueprints -------------------------------------------------------------------------------
    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        """POST the blueprint with its steps (not idempotent: a lost answer is resolved by find_blueprint)."""
        sourcing_id = self._sourcing_id(blueprint.sourcing, f"{blueprint.loc}: blueprint {blueprint.id!r}")
        reply = self.client.write("POST", f"/sourcings/{seg(sourcing_id)}/sequence-blueprints",
                                  json=_api.blueprint_body(blueprint.name, blueprint.steps), idempotent=False)
        item = {"sourcingId": sourcing_id, **(_api.data_of(reply.json) or {})}
        live = _api.blueprint_from_api(blueprint.address, item, fallback_steps=blueprint.steps)
        self._created[(sourcing_id, blueprint.name)] = live.remote_id
        self._listings.pop(sourcing_id, None)
        return live

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        """Read-only: the blueprint of this name in its sourcing, listed afresh."""
        sourcing_id = self._sourcing_id(blueprint.sourcing, f"{blueprint.loc}: blueprint {blueprint.id!r}")
        return self._match_blueprint(blueprint, self._listing(sourcing_id, fresh=True))

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        """PATCH name and the whole step list (a full replacement, so repeating it changes nothing)."""
        reply = self.client.write("PATCH", f"/sequence-blueprints/{seg(live.remote_id)}",
                                  json=_api.blueprint_body(blueprint.name, blueprint.steps), idempotent=True)
        item = {"blueprintId": live.remote_id, "sourcingId": live.sourcing_id, **(_api.data_of(reply.json) or {})}
        if live.sourcing_id:
            self._listings.pop(live.sourcing_id, None)
        return _api.blueprint_from_api(blueprint.address, item, fallback_steps=blueprint.steps)

    # -- cards: Kalent has none -------------------------------------------------------------------
    def _no_cards(self) -> ConfigError:
        return ConfigError(f"provider {self.config.name!r} is Kalent, which has no pipelines or cards; "
                           "declare pipelines on a clarky or garyclub provider")

    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str) -> LiveCard:
        raise self._no_cards()

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact) -> LiveCard | None:
        raise self._no_cards()

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate) -> LiveCard:
        raise self._no_cards()

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        raise self._no_cards()

    # -- housekeeping -----------------------------------------------------------------------------
    def request_counts(self) -> dict[str, int]:
        return dict(self.client.counts)

    def close(self) -> None:
        self.client.close()

