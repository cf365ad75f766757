"""LiveSnapshot: the neutral live model providers return; the planner reads nothing else.

Vendor statuses are mapped by each provider to four neutral ones:
  active    generating, pending approval, approved, running, scheduled, waiting ... (may still send)
  paused    paused (e.g. on reply); will not send until someone resumes it
  finished  completed, stopped on reply / unsubscribe / by a user, cancelled, replied
  failed    the vendor could not run it; `unreachable` says whether retrying can help
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.model import Address
from reconciler.vocabulary import UNSEEN, MemberStatus, Outcome

ACTIVE, PAUSED, FINISHED, FAILED = MemberStatus.ACTIVE, MemberStatus.PAUSED, MemberStatus.FINISHED, MemberStatus.FAILED
STATUSES = tuple(MemberStatus)
# The reason recorded for an enrollment found in another vendor sequence than the declared one (the
# person may be in only one at a time): re-read on every run, never taken as final. The word is the
# one states have always stored.
CONFLICT_REASON = "another_blueprint"
__all__ = ["ACTIVE", "CONFLICT_REASON", "FAILED", "FINISHED", "PAUSED", "STATUSES", "UNSEEN", "Absence",
           "LiveBlueprint", "LiveCard", "LiveMembership", "LiveSnapshot", "MemberStatus", "Shown", "Unknown"]


@dataclass(frozen=True, slots=True)
class LiveMembership:
    """One live enrollment of a member in a sequence (the latest attempt)."""

    address: Address
    remote_id: str | None
    status: str  # a MemberStatus
    vendor_status: str  # the vendor's own word, for display (generating, TALENT_REPLIED, ...)
    reason: str | None = None  # vendor reason: reply_received, no_usable_channels, ...
    unreachable: bool = False  # a failure that means the contact cannot be reached: skip, never retry
    attempt: int = 0  # 0 for the first enrollment; +1 per deliberate retry / re-enrollment
    since: str | None = None  # ISO time the enrollment was created / entered its status
    observed_at: str | None = None  # ISO time it was read from the vendor (None: from state cache)
    contact_remote_id: str | None = None
    conflict: str | None = None  # the vendor shows a state that makes enrolling unsafe (e.g. another sequence runs)
    # The vendor reports the person must not be contacted: "unsubscribed", "bounced" or "do_not_contact"
    # (contact policy suppresses them in every vendor); None when it reports nothing of the kind.
    opt_out: str | None = None
    ended_at: str | None = None  # ISO time a finished enrollment ended, when the vendor says (cool-downs)


@dataclass(frozen=True, slots=True)
class LiveCard:
    """One live card (or deal, as some vendors call it) in a managed pipeline."""

    address: Address  # key = manifest contact id, else 'remote:<contact id>' for undeclared contacts
    remote_id: str
    stage: str  # stage name
    title: str
    description: str | None
    tags: tuple[str, ...]
    archived: bool
    managed: bool  # carries the ownership tag
    contact_remote_id: str | None = None
    updated_at: str | None = None

    def managed_fields(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "tags": sorted(self.tags)}


@dataclass(frozen=True, slots=True)
class LiveBlueprint:
    """A live blueprint (a vendor sequence definition declared as code)."""

    address: Address
    remote_id: str
    name: str
    steps: tuple[dict[str, Any], ...]
    sourcing_id: str | None = None


@dataclass(frozen=True, slots=True)
class Absence:
    """What a vendor with asynchronous starts said of a member: no enrollment, for this person, at this time."""

    person: str  # the vendor's id of the person read
    read_at: str  # when it was read (the session's clock)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a vendor with asynchronous starts showed for a member: the person's latest enrollment, in
    whichever sequence (the vendor runs one at a time), as it said it, at this time."""

    person: str  # the vendor's id of the person read
    remote_id: str | None  # the vendor's id of that enrollment
    status: str  # a MemberStatus
    said: str | None  # the vendor's own status word as it gave it (None: it gave none), for messages
    started_at: str | None  # when that enrollment began, as the vendor says
    read_at: str  # when it was read (the session's clock)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A vendor's answer that it does not know the person whose status was read (a 404)."""

    person: str  # the vendor's id of the person read
    said: str  # the vendor's own message


@dataclass
class LiveSnapshot:
    """Everything read from the vendors for one plan. Mutable only while providers fill it."""

    memberships: dict[Address, LiveMembership] = field(default_factory=dict)
    cards: dict[Address, LiveCard] = field(default_factory=dict)
    blueprints: dict[Address, LiveBlueprint] = field(default_factory=dict)
    stages: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (provider, pipeline id) -> names
    unmanaged_cards: dict[tuple[str, str], int] = field(default_factory=dict)  # (provider, pipeline id) -> count
    pending: set[Address] = field(default_factory=set)  # in-doubt writes still unresolved: plan must not act
    # Pending enrollments no write may settle, with the reason (what was sent no longer matches the
    # manifests, or the contact policy holds the person back): the plan says `manual`; nothing is sent.
    held: dict[Address, str] = field(default_factory=dict)
    # Declared addresses whose person the vendor holds ambiguously (two vendor records for one contact,
    # or one record for two contacts): the planner says `manual` with this reason and sends nothing.
    conflicts: dict[Address, str] = field(default_factory=dict)
    # provider.contact[contacts][<contact id>] -> the vendor's own id of that person, for the state
    people: dict[Address, str] = field(default_factory=dict)
    # new address -> old address: one enrollment whose member or sequence was renamed or moved (kept)
    renames: dict[Address, Address] = field(default_factory=dict)
    # declared addresses whose remembered enrollment belongs to another person (a reused contact id)
    renames_from: dict[Address, LiveMembership] = field(default_factory=dict)
    # Members whose live state could not be proven (a 404 status read, a known enrollment that now
    # reads as absent): the plan says `manual` with the reason and sends nothing.
    unproven: dict[Address, str] = field(default_factory=dict)
    # Members read as absent whose absence is not proven yet (an asynchronous start of another run
    # may still be dispatching): the plan defers them with the reason.
    settling: dict[Address, str] = field(default_factory=dict)
    # Members a vendor with asynchronous starts read as having no enrollment: the fact, which the core's
    # merge judges against the settle window (reconciler/settle_window.py) into `settling` or `unproven`.
    absent: dict[Address, Absence] = field(default_factory=dict)
    # What such a vendor showed instead (`shown`), or that it did not know the person (`unknown`): facts
    # the core's merge compares with the state's own start (reconciler/settle_window.py).
    shown: dict[Address, Shown] = field(default_factory=dict)
    unknown: dict[Address, Unknown] = field(default_factory=dict)
    # Members read as absent whose first absent read must be remembered: address -> (contact, since).
    absent_seen: dict[Address, tuple[str, str]] = field(default_factory=dict)
    # In-doubt journal intents this read settled: journal seq -> resolved_present | resolved_absent.
    # Recorded by apply (reconciler/read_record.py); plan and drift leave the journal as it is.
    resolved: dict[int, Outcome] = field(default_factory=dict)
    # What each provider's read saw that its own writes need (provider name -> that provider's own
    # value, opaque to the core): apply hands it back to that provider's writes, so a write never
    # depends on a read having happened in the same process (without it, the write asks the vendor).
    seen: dict[str, Any] = field(default_factory=dict)
    # (provider, sequence id) -> the messages one new enrollment sends, as (channel, seconds after the
    # enrollment), for sequences whose vendor exposes its steps (the volume forecast); absent: unknown.
    cadences: dict[tuple[str, str], tuple[tuple[str, float], ...]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # provider -> requests sent while reading

    def merge(self, other: LiveSnapshot) -> None:
        """Fold one provider's snapshot into this one."""
        self.memberships.update(other.memberships)
        self.cards.update(other.cards)
        self.blueprints.update(other.blueprints)
        self.stages.update(other.stages)
        self.unmanaged_cards.update(other.unmanaged_cards)
        self.pending |= other.pending
        self.held.update(other.held)
        self.conflicts.update(other.conflicts)
        self.people.update(other.people)
        self.unproven.update(other.unproven)
        self.settling.update(other.settling)
        self.absent.update(other.absent)
        self.shown.update(other.shown)
        self.unknown.update(other.unknown)
        self.absent_seen.update(other.absent_seen)
        self.resolved.update(other.resolved)
        self.seen.update(other.seen)
        self.cadences.update(other.cadences)
        self.warnings.extend(other.warnings)
        for name, n in other.requests.items():
            self.requests[name] = self.requests.get(name, 0) + n
