"""KalentProvider.read: blueprints by sourcing, memberships one status GET per candidate, except where
the core decided that a remembered status answers (`given.standing`). What Kalent said of each
candidate is reported as it is (the sequence it shows, "none", or a 404); whether that can be about a
start the state recorded (the settle window after it) is the core's merge (reconciler/settle_window.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import NotFoundError
from reconciler.model import Address, DesiredState, ProviderConfig, Sequence
from reconciler.providers.kalent import _mapping
from reconciler.providers.kalent._client import Catalog, Target
from reconciler.read_input import ReadInput
from reconciler.snapshot import Absence, LiveMembership, LiveSnapshot, Unknown
from reconciler.timeutil import Clock, stamp


class KalentReader(Protocol):
    """What the read uses of KalentProvider (typed here, so this module does not import provider.py)."""

    @property
    def config(self) -> ProviderConfig: ...
    clock: Clock  # the session's: the times the read records
    catalog: Catalog

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
    """The live membership of one candidate, as remembered when the core says that stands in. Only what
    Kalent said is reported: whether it is about a start the state recorded is the core's merge
    (reconciler/settle_window.py, on `snap.shown`, `snap.absent` and `snap.unknown`)."""
    if address in given.standing:
        return given.standing[address].membership(address)
    if not candidate_id:
        snap.warnings.append(f"{address}: no Kalent candidate id; cannot read its status")
        return None
    try:
        sequence = kp.catalog.sequence_of(candidate_id)
    except NotFoundError as exc:
        # Kalent documents `sequence: null` for "none"; a 404 proves nothing about a sequence.
        snap.unknown[address] = Unknown(candidate_id, exc.vendor_message)
        return None
    observed = stamp(kp.clock.now())
    if sequence is None:
        snap.absent[address] = Absence(candidate_id, observed)
        return None  # with a remembered enrollment: known, now absent, which the core's merge reports
    snap.shown[address] = _mapping.shown(sequence, candidate_id, observed)
    if _mapping.belongs_to(sequence, target.blueprint_id, target.blueprint_name):
        return _mapping.to_membership(address, sequence, candidate_id=candidate_id, attempt=0, observed_at=observed)
    if orphan:  # an undeclared enrollment, Kalent now running another sequence: as the state remembers it
        remembered = given.remembered(address)
        return remembered.membership(address) if remembered is not None else None
    conflict = _mapping.conflict_text(candidate_id, sequence, target.label)
    return _mapping.to_membership(address, sequence, candidate_id=candidate_id, attempt=0, observed_at=observed,
                                  conflict=conflict)
