"""The Provider protocol: what every vendor adapter offers the planner and the apply engine, and
BaseProvider, the part every adapter shares.

Contract every adapter keeps:
- `read` returns a LiveSnapshot for exactly what the desired state and its `ReadInput` touch, with
  list endpoints at maximum page size; per-object reads only where no list exists, and only for the
  remembered enrollments the core put in `ReadInput.to_read` (the ones in `standing` answer as
  remembered). An adapter never sees the state's records, and decides no freshness of its own.
- Writes are never retried blind. A write whose answer is lost raises OutcomeUnknown; the caller
  resolves it with the matching read-only `find_*` / `resolve_enrollment` before anything else.
- Vendor JSON never leaves the adapter; statuses are mapped to the neutral ones of snapshot.py.
- The API key never appears in any message, log line or exception.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

import httpx

from reconciler.errors import ProviderError, UnsupportedOperation
from reconciler.model import (
    Address,
    Blueprint,
    Card,
    Contact,
    DesiredState,
    Membership,
    Pipeline,
    ProviderConfig,
    Sequence,
)
from reconciler.providers._http import VendorClient
from reconciler.read_input import ReadInput
from reconciler.snapshot import LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot
from reconciler.timeutil import SYSTEM_CLOCK, Clock


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
    enroll_batch_size: int = 1  # members one enroll request can carry (some vendors start up to 100 at once)


class StatusReading(NamedTuple):
    """What a vendor's enrollment status means in the neutral vocabulary (each adapter's `to_status`)."""

    status: str  # ACTIVE | PAUSED | FINISHED | FAILED (snapshot.py)
    vendor_status: str  # the vendor's own word, shown to the user
    reason: str | None  # why it paused, finished or failed, when the vendor says
    unreachable: bool  # a failure no retry can help (no usable channel, opted out)
    known: bool  # False: a word this adapter does not know, read as ACTIVE (it may still send)


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


class Provider(Protocol):
    """A configured vendor account."""

    config: ProviderConfig
    capabilities: Capabilities
    clock: Clock  # wall time (the session's): windows, staleness and the times it records

    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        """Live state of everything `desired` and `given` (what the core decided from the state's
        records, reconciler/read_input.py) touch for this provider."""

    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *, seen: Any = None) -> list[EnrollResult]:
        """Enroll members (at most capabilities.enroll_batch_size); never re-sends on its own.

        `seen` (here and in the other writes): what this provider's read put in `LiveSnapshot.seen`
        for itself, handed back by apply; None when there was no read (the write asks the vendor)."""

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: Any = None) -> LiveMembership | None:
        """The enrollment that exists now for this member (None: certainly none); resolves in-doubt writes.

        Reads where the vendor can list; a vendor without a list replays the start with the same idempotency key (and
        without notes), which returns the original and cannot send twice. Raises OutcomeUnknown when
        the vendor cannot tell yet (asynchronous starts: absent shortly after `sent_at`
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


class BaseProvider:
    """What every adapter does the same way: the configured VendorClient (auth header, rate budget,
    retries, the stop event), request counting, close, and the one `UnsupportedOperation` for what
    the vendor has no API for. A vendor adapter subclasses it, sets `capabilities`, `auth_headers`
    and the reasons in `UNSUPPORTED`, and implements what its vendor can do; the card and blueprint
    operations it does not override refuse with UnsupportedOperation before any request is sent."""

    capabilities: ClassVar[Capabilities]
    clock: Clock = SYSTEM_CLOCK  # open_session gives it the session's: windows, staleness, recorded times
    # operation family ("cards", "blueprints") -> why this vendor cannot do it, said to the user
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {}

    def __init__(self, config: ProviderConfig, api_key: str, *, transport: httpx.BaseTransport | None = None,
                 stop: threading.Event | None = None, **client_options: Any) -> None:
        """`stop`, once set, keeps any further request from leaving (an interrupted apply);
        `client_options` go to VendorClient.for_provider (tests pass a fake `sleep` and pacing `clock`)."""
        self.config = config
        self.client = VendorClient.for_provider(config, api_key, headers=self.auth_headers(config, api_key),
                                                transport=transport, stop=stop, **client_options)

    def auth_headers(self, config: ProviderConfig, api_key: str) -> dict[str, str]:
        """The headers that authenticate every request to this vendor."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.name!r}, base_url={self.config.base_url!r})"

    # -- read -------------------------------------------------------------------------------------
    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        """What the vendor holds of what `desired` and `given` touch (each adapter implements it).
        `given` is what the core decided from the state's records (reconciler/read_input.py, called
        from reconciler/engine.py, which also merges the result)."""
        raise NotImplementedError

    # -- housekeeping -----------------------------------------------------------------------------
    def requests_made(self) -> int:
        """Requests sent so far, reads and writes together (a read reports the difference)."""
        return sum(self.client.counts.values())

    def request_counts(self) -> dict[str, int]:
        return dict(self.client.counts)

    def close(self) -> None:
        self.client.close()

    # -- what a vendor cannot do ------------------------------------------------------------------
    def unsupported(self, family: str, subject: Any = None, *, method: str = "-",
                    path: str = "-") -> UnsupportedOperation:
        """The error for an operation this vendor has no API for (nothing is sent)."""
        address = getattr(subject, "address", None)
        where = f"{address}: " if address is not None else ""
        return UnsupportedOperation(self.config.name, method, path, None, where + self.UNSUPPORTED[family],
                                    code="unsupported")

    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str, *,
                    seen: Any = None) -> LiveCard:
        raise self.unsupported("cards", card)

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact, *, seen: Any = None) -> LiveCard | None:
        raise self.unsupported("cards", card)

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate, *, seen: Any = None) -> LiveCard:
        raise self.unsupported("cards", live)

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        raise self.unsupported("cards", live)

    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        raise self.unsupported("blueprints", blueprint)

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        raise self.unsupported("blueprints", blueprint)

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        raise self.unsupported("blueprints", blueprint)
