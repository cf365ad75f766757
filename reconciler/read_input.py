"""What a provider's read is given: the core decides which remembered statuses stand in for the vendor.

The state remembers, per address, what earlier applies read and did (`StateRecord`s). Before a provider
reads, the core sorts this provider's remembered enrollments by the one freshness rule
(`state_record.stands_in`, with the provider's maximum age, `--refresh` and the session's clock) and
hands the provider a `ReadInput`: the enrollments whose remembered status answers without a request
(`standing`), the ones the vendor is asked about again (`to_read`), and the few other facts a read
needs (the vendor's ids of people the state remembers, the ownership tag, the adopted cards). An
adapter reads what it is told and reports what the vendor said; it never sees the state's records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.model import Address
from reconciler.snapshot import UNSEEN
from reconciler.state_record import StateRecord, stands_in
from reconciler.vocabulary import Kind

__all__ = ["ReadContext", "ReadInput", "read_input", "read_inputs", "status_max_age"]


@dataclass
class ReadContext:
    """The core's side of a read: the state's records and the read options. Providers are not given it:
    `read_inputs` turns it into each provider's ReadInput."""

    cache: Mapping[Address, StateRecord] = field(default_factory=dict)
    ownership_tag: str = "campaignctl"
    refresh: bool = False  # re-read every non-final status, ignoring cache freshness
    adopted: frozenset[Address] = frozenset()  # cards `import` recorded for adoption


@dataclass(frozen=True)
class ReadInput:
    """What one provider's read is given, decided by the core from the state's records."""

    provider: str
    # this provider's remembered enrollments whose status answers for the vendor: no request for them
    standing: Mapping[Address, StateRecord] = field(default_factory=dict)
    # this provider's remembered enrollments the vendor is asked about again (not final, too old, --refresh)
    to_read: Mapping[Address, StateRecord] = field(default_factory=dict)
    # this provider's rows that name the vendor's id of a person: a recorded contact match (`remote_id`,
    # with the identifiers it was matched on) or the person of an enrollment or card (`contact`), in
    # the state's order
    people: Mapping[Address, StateRecord] = field(default_factory=dict)
    ownership_tag: str = "campaignctl"
    refresh: bool = False  # --refresh: every status that is not final is read again (already in `to_read`)
    adopted: frozenset[Address] = frozenset()  # cards `import` recorded for adoption

    def remembered(self, address: Address) -> StateRecord | None:
        """The remembered enrollment at `address` (standing or to be read again), if any."""
        return self.standing.get(address) or self.to_read.get(address)

    def enrollments(self) -> Iterator[Address]:
        """Every address the state remembers an enrollment of (first absent reads, `unseen` rows, are the
        core's own: reconciler/settle_window.py)."""
        yield from self.standing
        yield from self.to_read


def status_max_age(can_list_memberships: bool, status_refresh_minutes: float) -> float:
    """How long (seconds) a remembered status that is not final answers for the vendor: the provider's
    status_refresh_minutes, or 0 for a vendor that lists every enrollment in one pass (its list answers
    for all of them at once, so a remembered status saves no request)."""
    return 0.0 if can_list_memberships else status_refresh_minutes * 60


def read_inputs(ctx: ReadContext, max_ages: Mapping[str, float], now: datetime) -> dict[str, ReadInput]:
    """Each provider's ReadInput (provider name -> the max age of its statuses, see `status_max_age`),
    in one pass over the state's records: `now` is the session's clock, read once for all."""
    parts: dict[str, tuple[dict[Address, StateRecord], ...]] = {name: ({}, {}, {}) for name in max_ages}
    for address, record in ctx.cache.items():
        part = parts.get(address.provider)
        if part is None:
            continue
        standing, to_read, people = part
        if address.kind == Kind.MEMBERSHIP and record.status != UNSEEN:
            if stands_in(record, refresh=ctx.refresh, max_age_seconds=max_ages[address.provider], now=now):
                standing[address] = record
            else:
                to_read[address] = record
        if record.contact or (address.kind == Kind.CONTACT and record.remote_id):
            people[address] = record
    return {name: ReadInput(name, standing, to_read, people, ownership_tag=ctx.ownership_tag,
                            refresh=ctx.refresh, adopted=ctx.adopted)
            for name, (standing, to_read, people) in parts.items()}


def read_input(ctx: ReadContext, provider: str, *, max_age_seconds: float, now: datetime) -> ReadInput:
    """One provider's ReadInput (see `read_inputs`)."""
    return read_inputs(ctx, {provider: max_age_seconds}, now)[provider]
