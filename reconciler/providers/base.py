"""The Provider protocol: what every vendor adapter offers the planner and the apply engine.

Contract every adapter keeps:
- `read` returns a LiveSnapshot for exactly what the desired state (and the state cache) touches,
  with list endpoints at maximum page size; per-object reads only where no list exists and the
  object is not already known to be final.
- Writes are never retried blind. A write whose answer is lost raises OutcomeUnknown; the caller
  resolves it with the matching read-only `find_*` / `resolve_enrollment` before anything else.
- Vendor JSON never leaves the adapter; statuses are mapped to the neutral ones of snapshot.py.
- The API key never appears in any message, log line or exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from reconciler.errors import ProviderError
from reconciler.model import Address, Blueprint, Card, Contact, DesiredState, Membership, Pipeline, ProviderConfig, Sequence
from reconciler.snapshot import LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import Clock


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vendor's API can do; the planner turns missing capabilities into `manual` changes.

    The defaults are what the planner assumes of a provider it is given no capabilities for: card
    removals as the manifest asks (the vendor's refusal is reported by apply), never a stop."""

    can_list_memberships: bool = False
    can_stop_membership: bool = False
    card_kind: str | None = None  # "card" | "deal" | None
    can_archive_cards: bool = True
    can_delete_cards: bool = True
    supports_blueprints: bool = False
    enroll_batch_size: int = 1  # members one enroll request can carry (Kalent: 100)


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """One member to enroll; `attempt` > 0 for a deliberate retry or re-enrollment."""

    membership: Membership
    contact: Contact | None
    attempt: int = 0


@dataclass(slots=True)
class EnrollResult:
    """The outcome for one member: the live enrollment, or the error (OutcomeUnknown if in doubt)."""

    address: Address
    live: LiveMembership | None = None
    error: ProviderError | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class CardUpdate:
    """Neutral card changes; only the keys present are sent. `tags` is the full resulting list."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    stage: str | None = None
    archived: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("title", "description", "tags", "stage", "archived") if getattr(self, k) is not None}


@dataclass
class ReadContext:
    """Inputs of a read besides the desired state: the state's records and read options."""

    cache: Mapping[Address, StateRecord] = field(default_factory=dict)
    ownership_tag: str = "campaignctl"
    refresh: bool = False  # re-read every non-final status, ignoring cache freshness
    adopted: frozenset[Address] = frozenset()  # cards `import` recorded for adoption


class Provider(Protocol):
    """A configured vendor account."""

    config: ProviderConfig
    capabilities: Capabilities
    clock: Clock  # wall time (the session's): windows, staleness and the times it records

    def read(self, desired: DesiredState, ctx: ReadContext) -> LiveSnapshot:
        """Live state of everything `desired` and the cache touch for this provider."""

    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *, seen: Any = None) -> list[EnrollResult]:
        """Enroll members (at most capabilities.enroll_batch_size); never re-sends on its own.

        `seen` (here and in the other writes): what this provider's read put in `LiveSnapshot.seen`
        for itself, handed back by apply; None when there was no read (the write asks the vendor)."""

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: Any = None) -> LiveMembership | None:
        """The enrollment that exists now for this member (None: certainly none); resolves in-doubt writes.

        Reads where the vendor can list; Clarky replays the start with the same idempotency key (and
        without notes), which returns the original and cannot send twice. Raises OutcomeUnknown when
        the vendor cannot tell yet (Kalent starts are asynchronous: absent shortly after `sent_at`
        proves nothing)."""

    def stop_membership(self, live: LiveMembership) -> LiveMembership:
        """Stop an enrollment; asked only of a provider whose capabilities say `can_stop_membership`
        (none of the three vendors' APIs has such a call). Returns the enrollment as it stands after."""

    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str, *,
                    seen: Any = None) -> LiveCard:
        """Create the card with the ownership tag (creating the vendor contact first if needed)."""

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact, *, seen: Any = None) -> LiveCard | None:
        """Read-only: the live card of this contact in this pipeline, if any."""

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate, *, seen: Any = None) -> LiveCard:
        """Apply field, stage and archive changes to a managed card."""

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        """Delete a managed card (404 counts as done)."""

    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        """Create a blueprint with its steps."""

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        """Read-only: the live blueprint of this name in its sourcing, if any."""

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        """Replace a blueprint's name and steps."""

    def request_counts(self) -> dict[str, int]:
        """Requests sent so far: {'read': n, 'write': n}."""

    def close(self) -> None:
        """Release HTTP resources."""
