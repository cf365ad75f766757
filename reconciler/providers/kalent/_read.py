"""KalentProvider.read: blueprints by sourcing, memberships one status GET per candidate, except where
the core decided that a remembered status answers (`given.standing`); whether a status answer can be
about our own recorded start yet (the settle window after it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from reconciler.errors import NotFoundError
from reconciler.model import Address, DesiredState, ProviderConfig, Sequence
from reconciler.providers.kalent import _mapping
from reconciler.providers.kalent._client import Catalog, Target
from reconciler.read_input import ReadInput
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, Absence, LiveMembership, LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import Clock, age_seconds, stamp


class KalentReader(Protocol):
    """What the read uses of KalentProvider (typed here, so this module does not import provider.py)."""

    @property
    def config(self) -> ProviderConfig: ...
    clock: Clock  # the session's: the settle window, staleness and the times the read records
    catalog: Catalog
    settle_seconds: float

    def requests_made(self) -> int: ...


@dataclass(frozen=True)
class KalentSeen:
    """What a read saw that the writes need (LiveSnapshot.seen): where each sequence starts, and the
    dynamic sequence each member's plan was based on (a later start is a different one)."""

    targets: Mapping[str, Target]  # sequence id -> target
    previous: Mapping[Address, str | None]  # member address -> the sequence id read (None: none)


def read(kp: KalentReader, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
    """Blueprints and memberships of this provider; status reads only for what is not in `given.standing`.
    Keeps nothing on the provider: what the writes need goes into `snap.seen` (KalentSeen)."""
    before = kp.requests_made()
    snap = LiveSnapshot()
    targets: dict[str, Target] = {}
    previous: dict[Address, str | None] = {}
    kp.catalog.listings = {}
    name = kp.config.name
    for bp in (b for b in desired.blueprints if b.provider == name):
        found = _mapping.match_blueprint(bp, kp.catalog.blueprints(kp.catalog.blueprint_sourcing(bp)))
        if found is not None:
            snap.blueprints[bp.address] = found
    declared: set[Address] = set()
    for seq in (s for s in desired.sequences if s.provider == name):
        target = targets[seq.id] = kp.catalog.target(seq, desired)
        steps = _blueprint_steps(kp, seq, desired, target)
        if steps is not None:  # the volume forecast of the contact policy
            snap.cadences[(name, seq.id)] = _mapping.cadence(steps)
        for member in seq.members:
            declared.add(member.address)
            lm = _member(kp, member.address, member.candidate_id, target, given, snap)
            previous[member.address] = lm.remote_id if lm is not None else None
            if lm is not None:
                snap.memberships[member.address] = lm
    _read_orphans(kp, given, declared, targets, snap)
    snap.seen[name] = KalentSeen(targets, previous)
    snap.requests[name] = kp.requests_made() - before
    return snap


def _blueprint_steps(kp: KalentReader, seq: Sequence, desired: DesiredState, target: Target) -> Any:
    """The steps a start of `seq` runs: the manifest's blueprint (apply writes it before any start),
    else the live one from the listing this read already fetched; None when neither is known."""
    declared = next((b for b in desired.blueprints if b.provider == seq.provider and b.id == seq.target), None)
    if declared is not None:
        return declared.steps
    items = kp.catalog.blueprints(target.sourcing_id)
    item = next((i for i in items if i.get("blueprintId") == target.blueprint_id), None)
    return item.get("steps") if item is not None else None


def _read_orphans(kp: KalentReader, given: ReadInput, declared: set[Address], targets: Mapping[str, Target],
                  snap: LiveSnapshot) -> None:
    """Remembered memberships no longer declared: kept so the planner can report them (re-read when the
    core says so). First absent reads (`unseen` rows) are not among them: nothing to report."""
    mine = ((a, e) for part in (given.standing, given.to_read) for a, e in part.items() if a not in declared)
    for address, entry in sorted(mine):  # the few orphans only: sorting the whole cache cost seconds at 100k
        target = targets.get(address.group)
        candidate = entry.contact
        if target is None or not candidate or address in given.standing:
            snap.memberships[address] = entry.membership(address)
            continue
        lm = _member(kp, address, candidate, target, given, snap, orphan=True)
        if lm is not None:
            snap.memberships[address] = lm


def _member(kp: KalentReader, address: Address, candidate_id: str | None, target: Target, given: ReadInput,
            snap: LiveSnapshot, *, orphan: bool = False) -> LiveMembership | None:
    """The live membership of one candidate, as remembered when the core says that stands in."""
    if address in given.standing:
        return given.standing[address].membership(address)
    cached = given.to_read.get(address)
    if not candidate_id:
        snap.warnings.append(f"{address}: no Kalent candidate id; cannot read its status")
        return None
    try:
        sequence = kp.catalog.sequence_of(candidate_id)
    except NotFoundError as exc:
        if cached is not None:  # we started it: calling it absent would plan a second start
            snap.warnings.append(f"{address}: Kalent does not know candidate {candidate_id} "
                                 f"({exc.vendor_message}); "
                                 f"kept its last known status {cached.vendor_status or cached.status!r}")
            return cached.membership(address)
        # Kalent documents `sequence: null` for "none"; a 404 proves nothing about a sequence.
        snap.unproven[address] = (f"Kalent answered 404 for candidate {candidate_id}'s sequence status "
                                  f"({exc.vendor_message}); that does not prove it has none, so nothing is "
                                  "started: check the candidate id in Kalent")
        return None
    now = kp.clock.now()
    observed = stamp(now)
    attempt = cached.attempt if cached is not None else 0
    if cached is not None and dispatching(cached, sequence, kp.settle_seconds, now):
        return cached.membership(address)
    if cached is not None and sequence is not None and start_never_showed(cached, sequence, now):
        # Kalent accepted our start, yet after the settle window it still shows only an earlier
        # sequence: that is the previous attempt, not a failed one; starting again could send twice.
        since = str(cached.since)[:16].replace("T", " ")
        snap.unproven[address] = (
            f"Kalent accepted a start for candidate {candidate_id} at {since} UTC, but still shows only the "
            f"earlier sequence {sequence.get('sequenceId')} ({sequence.get('displayStatus')}): check it in "
            "Kalent; nothing is started again while the state remembers that start")
        return None
    if sequence is None:
        if not orphan:  # the fact only: the core's merge judges it (reconciler/settle_window.py)
            snap.absent[address] = Absence(candidate_id, observed)
        return None  # with a remembered enrollment: known, now absent, which the core's merge reports
    if _mapping.belongs_to(sequence, target.blueprint_id, target.blueprint_name):
        return _mapping.to_membership(address, sequence, candidate_id=candidate_id, attempt=attempt,
                                      observed_at=observed)
    if orphan:
        return cached.membership(address) if cached is not None else None
    conflict = _mapping.conflict_text(candidate_id, sequence, target.label)
    return _mapping.to_membership(address, sequence, candidate_id=candidate_id, attempt=attempt, observed_at=observed,
                                        conflict=conflict)


def dispatching(cached: StateRecord | None, sequence: Mapping[str, Any] | None, settle_seconds: float,
                now: datetime) -> bool:
    """Our own start is so recent that the vendor's answer cannot be about it yet.

    Within the settle window "no sequence", an earlier sequence, or a final one whose id we never
    saw is the previous attempt (a retry or re-enrollment) rather than ours: reading it as ours would
    plan the same retry again. At worst a start that failed at once shows as active for a few minutes."""
    if cached is None or cached.status not in (ACTIVE, PAUSED) or not _settling(cached, settle_seconds, now):
        return False
    if sequence is None:
        return True
    if cached.remote_id is not None and sequence.get("sequenceId") == cached.remote_id:
        return False
    since = cached.since
    return _mapping.to_status(sequence).status in (FINISHED, FAILED) or older_than(sequence, since, now)


def start_never_showed(cached: StateRecord | None, sequence: Mapping[str, Any] | None, now: datetime) -> bool:
    """Past the settle window: the cache records a start of ours (active or paused, with its time)
    that Kalent does not show, its latest sequence being one that began well before that start."""
    if cached is None or sequence is None or cached.status not in (ACTIVE, PAUSED):
        return False
    if cached.remote_id is not None and sequence.get("sequenceId") == cached.remote_id:
        return False
    return older_than(sequence, cached.since, now)


def _settling(entry: StateRecord, settle_seconds: float, now: datetime) -> bool:
    """A cached enrollment started so recently that Kalent may not show it yet."""
    age = age_seconds(entry.since, now)
    return age is not None and age < settle_seconds


def older_than(sequence: Mapping[str, Any], sent_at: str | None, now: datetime) -> bool:
    """A sequence started well before our start is an earlier attempt, not the one in doubt."""
    started, sent = age_seconds(_mapping.started_at(sequence), now), age_seconds(sent_at, now)
    return started is not None and sent is not None and started > sent + 60

