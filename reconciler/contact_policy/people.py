"""Who a membership is: one person across every vendor, and what each person has live.

A person is every identifier they have (reconciler.identity). A declared membership is its
manifest contact; an enrollment the manifests no longer declare is recognised by the identifiers
the state recorded for it, or by its contact id. Enrollments come from the live read and, for
addresses the read no longer covers, from the state's ledger (a cool-down outlives a manifest edit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.identity import identifiers
from reconciler.model import Address, DesiredState
from reconciler.providers import vendors
from reconciler.snapshot import ACTIVE, FINISHED, PAUSED, STATUSES, LiveSnapshot
from reconciler.state_record import StateRecord

ONGOING = (ACTIVE, PAUSED)  # an outreach in progress: paused ones may resume


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One enrollment of a person, from the live read or the state's ledger."""

    address: Address
    status: str
    since: str | None = None
    ended_at: str | None = None
    opt_out: str | None = None
    in_doubt: bool = False  # an enrollment attempt with an unknown outcome: it may exist

    @property
    def where(self) -> str:
        return f"{self.address.provider}/{self.address.group}"

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING or self.in_doubt

    @property
    def ended(self) -> str | None:
        """When a finished enrollment ended (its vendor's word, else the time it entered the status)."""
        return (self.ended_at or self.since) if self.status == FINISHED else None


def candidate_identifier(candidate_id: str | None, vendor_type: str | None) -> str:
    """The identifier a member known only by its vendor's own person id has (the identity module's
    form, with the scheme of the vendor's VendorSpec.person_ids)."""
    spec = vendors.find(vendor_type or "")
    scheme = spec.person_ids.scheme if spec and spec.person_ids else vendor_type or "?"
    return identifiers((), (), [(scheme, candidate_id or "?")])[0]


class People:
    """Person keys of memberships, their identifiers, and every enrollment of each person."""

    def __init__(self, desired: DesiredState, live: LiveSnapshot, ledger: Mapping[Address, StateRecord]) -> None:
        self._contacts = desired.contacts
        self._types = {name: cfg.type for name, cfg in desired.project.providers.items()}
        self._owner: dict[str, str] = {}
        for contact in desired.contacts.values():
            for ident in contact.identifiers:
                self._owner.setdefault(ident, contact.id)
        self._declared: dict[Address, str] = {}
        for seq, member in desired.memberships():
            self._declared[member.address] = self._key_of_member(member.contact_id, member.candidate_id,
                                                                 seq.provider_type)
        self._ledger = ledger
        self.enrollments: dict[str, list[Enrollment]] = {}
        for address, lm in live.memberships.items():
            # A status read from the state's cache may not carry what the vendor said when it was read
            # live (its opt-out, its end): the ledger row of the same enrollment still does.
            entry = ledger.get(address)
            same = entry is not None and entry.remote_id == lm.remote_id
            self._add(address, Enrollment(address, lm.status, lm.since,
                                          lm.ended_at or (entry.ended_at if same and entry else None),
                                          lm.opt_out or (entry.opt_out if same and entry else None)))
        for address in live.pending:
            if address.kind == "membership":
                self._add(address, Enrollment(address, "unknown", in_doubt=True))
        for address, entry in ledger.items():
            if address.kind != "membership" or address in live.memberships or entry.status not in STATUSES:
                continue
            self._add(address, Enrollment(address, str(entry.status), entry.since, entry.ended_at, entry.opt_out))

    def _key_of_member(self, contact_id: str | None, candidate_id: str | None, vendor_type: str) -> str:
        if contact_id:
            return contact_id
        ident = candidate_identifier(candidate_id, vendor_type)
        return self._owner.get(ident, ident)

    def _add(self, address: Address, enrollment: Enrollment) -> None:
        self.enrollments.setdefault(self.key(address), []).append(enrollment)

    def key(self, address: Address) -> str:
        """The person a membership address belongs to: a manifest contact id, else an identifier."""
        if address in self._declared:
            return self._declared[address]
        entry = self._ledger.get(address)
        person = (entry.person or ()) if entry else ()
        for ident in person:
            if ident in self._owner:
                return self._owner[ident]
        if address.key in self._contacts:
            return address.key
        if person:
            return str(person[0])
        ident = candidate_identifier(address.key, self._types.get(address.provider))
        return self._owner.get(ident, f"{address.provider}:{address.key}")

    def identifiers(self, person: str) -> tuple[str, ...]:
        contact = self._contacts.get(person)
        return contact.identifiers if contact else (person,)

    def of(self, person: str) -> list[Enrollment]:
        return sorted(self.enrollments.get(person, ()), key=lambda e: str(e.address))
