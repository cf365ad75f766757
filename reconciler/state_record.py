"""StateRecord: what the state remembers of one address, as typed fields.

The state keeps, per address, the vendor's id, the last status read, the attempt and when it was
read, plus a few facts an apply recorded (the `extra` JSON column of the objects table). This module
is the one place that turns a stored row into a record and back: old rows (any subset of the keys)
load, and a record writes the same keys rows always had, so states written by earlier versions and
by this one read the same both ways.

It is also the one place that turns a record into the membership the planner sees
(`StateRecord.membership`), and holds the one freshness rule (`stands_in`): whether a remembered
status answers for the vendor without reading it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import Address
from reconciler.snapshot import ACTIVE, CONFLICT_REASON, FAILED, FINISHED, STATUSES, LiveMembership
from reconciler.timeutil import age_seconds

FINAL = (FINISHED, FAILED)


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One state row: a cache of what an apply read or did, never the only duplicate guard."""

    remote_id: str | None
    status: str | None = None  # one of snapshot.STATUSES, "archived" (cards), or UNSEEN
    vendor_status: str | None = None
    attempt: int = 0
    observed_at: str | None = None  # when the vendor was last actually read for this address
    contact: str | None = None  # the vendor's own id of the person (contact id, candidate id)
    since: str | None = None  # when the enrollment began; for an UNSEEN row, the first read that found none
    reason: str | None = None  # the vendor's reason for a final status
    unreachable: bool = False  # a failure that retrying cannot fix
    person: tuple[str, ...] | None = None  # the person's identifiers when recorded (None: the row does not say)
    target: str | None = None  # the vendor sequence (template, sequence, blueprint) an enrollment is in
    opt_out: str | None = None  # the vendor reported the person unsubscribed / bounced / do_not_contact
    ended_at: str | None = None  # when a finished enrollment ended, as the vendor said (contact policy)

    # -- the stored form ----------------------------------------------------------------------
    @classmethod
    def from_stored(cls, remote_id: str | None, status: str | None, vendor_status: str | None, attempt: int | None,
                    observed_at: str | None, extra: Mapping[str, Any] | None,
                    share: Callable[[str | None], str | None] | None = None) -> StateRecord:
        """A row as the stores read it (`extra` the decoded JSON column; unknown keys are ignored).
        `share` (the stores' cache reads) returns one object per distinct text for the facts that repeat
        across rows (statuses, times, the vendor sequence), so 250,000 rows hold each of them once."""
        keep = share or _same
        contact = since = reason = target = opt_out = ended_at = person = None
        unreachable = False
        if extra:
            # Only the keys a row has (one to five of them): this runs once per row of the state
            # (250,000 at 100k memberships).
            for key, value in extra.items():
                if value.__class__ is str:
                    value = value or None  # what _text makes of it, without the call
                elif key != "person":
                    value = _text(value)
                if key == "contact":
                    contact = value
                elif key == "person":
                    person = value
                elif key == "since":
                    since = keep(value)
                elif key == "target":
                    target = keep(value)
                elif key == "ended_at":
                    ended_at = keep(value)
                elif key == "reason":
                    reason = keep(value)
                elif key == "opt_out":
                    opt_out = keep(value)
                elif key == "unreachable":
                    unreachable = bool(extra.get("unreachable"))
        return cls(remote_id, keep(status), keep(vendor_status), int(attempt or 0), keep(observed_at), contact, since,
                   reason, unreachable,
                   tuple(map(str, person)) if isinstance(person, (list, tuple)) else None,
                   target, opt_out, ended_at)

    def stored_extra(self) -> dict[str, Any]:
        """The `extra` JSON column: the keys rows have always had, only those that say something
        (`person` is kept even when empty: "recorded for nobody declared" differs from "not recorded")."""
        extra: dict[str, Any] = {k: v for k, v in (("contact", self.contact), ("since", self.since),
                                                   ("reason", self.reason), ("target", self.target),
                                                   ("opt_out", self.opt_out), ("ended_at", self.ended_at)) if v}
        if self.unreachable:
            extra["unreachable"] = True
        if self.person is not None:
            extra["person"] = list(self.person)
        return extra

    @property
    def extra(self) -> dict[str, Any]:
        """The stored form of the typed facts, as the objects table's `extra` column holds them."""
        return self.stored_extra()

    # -- what it stands for -------------------------------------------------------------------
    @property
    def in_conflict(self) -> bool:
        """Recorded in another vendor sequence than the declared one: re-read, never taken as final."""
        return self.reason == CONFLICT_REASON

    def membership(self, address: Address) -> LiveMembership:
        """The enrollment as the state remembers it (observed_at None: not read now). The one converter
        from state to live model: every vendor's remembered enrollments go through it."""
        conflict = None
        if self.in_conflict:
            conflict = (f"{address.provider}: person {self.contact} was last seen in another sequence "
                        f"({self.vendor_status}); decide in the vendor's UI")
        return LiveMembership(address=address, remote_id=self.remote_id, status=self.status or ACTIVE,
                              vendor_status=self.vendor_status or self.status or "unknown", reason=self.reason,
                              unreachable=self.unreachable, attempt=self.attempt, since=self.since, observed_at=None,
                              contact_remote_id=self.contact, conflict=conflict, opt_out=self.opt_out,
                              ended_at=self.ended_at)

    @classmethod
    def of_membership(cls, lm: LiveMembership, *, person: tuple[str, ...] | None = None,
                      target: str | None = None) -> StateRecord:
        """What the state remembers of a live enrollment (and of who and where it is)."""
        return cls(remote_id=lm.remote_id, status=lm.status, vendor_status=lm.vendor_status, attempt=lm.attempt,
                   observed_at=lm.observed_at, contact=lm.contact_remote_id, since=lm.since, reason=lm.reason,
                   unreachable=lm.unreachable, person=person, target=target, opt_out=lm.opt_out,
                   ended_at=lm.ended_at)


def stands_in(record: StateRecord | None, *, refresh: bool, max_age_seconds: float, now: datetime) -> bool:
    """The one freshness rule: whether a remembered enrollment status answers without reading the vendor.

    A final status (finished, failed) stands for good: it does not change again, and re-reading it would
    cost a request per member on every run. Any other status stands while younger than `max_age_seconds`
    at `now` (the provider's status_refresh_minutes; 0 for a vendor that lists every enrollment in one
    pass), never on `refresh`. A record in another sequence, or one that is not an enrollment status (an
    `unseen` row), never stands."""
    if record is None or record.status not in STATUSES or record.in_conflict:
        return False
    if record.status in FINAL:
        return True
    if refresh:
        return False
    age = age_seconds(record.observed_at, now)
    return age is not None and age < max_age_seconds


def _text(value: Any) -> str | None:
    if value.__class__ is str:  # nearly always: skip the str() copy-check
        return value or None
    return None if value is None or value == "" else str(value)


def _same(text: str | None) -> str | None:
    return text
