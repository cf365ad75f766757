"""What an enrollment's journal intent records of the request it is about to send, and what of it no
longer matches the manifests.

An in-doubt enrollment (its answer was lost) is settled against what was SENT, as a payment is: the
vendor target (template, sequence or blueprint), the person's identifiers and, when the read knew
it, the vendor's own id of the person (a keyed start's idempotency key is made of the target, that
id and the journal row's attempt). Settling it against today's manifests would read the wrong
sequence or look up the wrong person, and a keyed "replay" built from them is a new start.

Intents written before this record existed have none (`SentEnrollment.of` returns None): they are
settled as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.live_merge import membership_identity
from reconciler.model import Address, Contact, Membership, Sequence, person_id_schemes
from reconciler.providers import vendors

KEY = "sent"  # the intent detail's key for this record


@dataclass(frozen=True, slots=True)
class SentEnrollment:
    """One enrollment request as it was sent."""

    target: str  # the vendor sequence: template id, sequence name or id, manifest blueprint key
    person: tuple[str, ...]  # the person's identifiers (email:, phone:, <vendor scheme>:)
    contact: str | None = None  # the vendor's id of the person, when the read knew it before the request

    def detail(self) -> dict[str, Any]:
        return {KEY: {"target": self.target, "person": list(self.person), "contact": self.contact}}

    @classmethod
    def of(cls, detail: Mapping[str, Any] | None) -> SentEnrollment | None:
        """The record in an intent's detail; None for an intent an earlier version wrote."""
        raw = (detail or {}).get(KEY)
        if not isinstance(raw, Mapping) or not raw.get("target"):
            return None
        contact = raw.get("contact")
        return cls(str(raw["target"]), tuple(str(p) for p in raw.get("person") or ()),
                   str(contact) if contact else None)

    def changes(self, seq: Sequence, member: Membership, contacts: Mapping[str, Contact],
                people: Mapping[Address, str]) -> list[str]:
        """What of this request the manifests (and the read's person match) no longer want: empty when
        sending it again would be the same request. A person who only gained identifiers is the same."""
        out = []
        if seq.target != self.target:
            out.append(f"the sequence now targets {seq.target!r}, not {self.target!r} as sent")
        now = membership_identity(seq, member, contacts).person
        if not set(self.person) <= set(now):
            out.append("the person's identifiers changed since it was sent")
        matched = people.get(contact_address(seq.provider, member))
        if self.contact and matched and matched != self.contact:
            out.append(f"{seq.provider} now matches the person to {matched}, not {self.contact} as sent")
        return out

    def as_sent(self, seq: Sequence, member: Membership,
                contact: Contact | None) -> tuple[Sequence, Membership, Contact | None]:
        """The sequence, member and contact the request was built from, for a read of what it did. The
        contact gets its own id, so a vendor catalog's match of today's contact is neither used nor changed."""
        split = [p.partition(":") for p in self.person]
        by_scheme = {scheme: key for key, scheme in person_id_schemes().items()}
        ids = tuple((by_scheme[scheme], value) for scheme, _, value in split if scheme in by_scheme)
        people = vendors.spec(seq.provider_type).person_ids
        candidate = next((value for scheme, _, value in split if people and scheme == people.scheme), None)
        sent_member = replace(member, candidate_id=candidate or member.candidate_id) if member.candidate_id else member
        sent_contact = None
        if contact is not None:
            sent_contact = replace(contact, id=f"{contact.id} (as sent)", person_ids=ids,
                                   emails=tuple(value for scheme, _, value in split if scheme == "email"),
                                   phone_numbers=tuple(value for scheme, _, value in split if scheme == "phone"))
        return replace(seq, target=self.target), sent_member, sent_contact


def contact_address(provider: str, member: Membership) -> Address:
    """Where the read notes the vendor's id of a member's person (LiveSnapshot.people)."""
    return Address(provider, "contact", "contacts", member.contact_id or "")


def sent_enrollment(seq: Sequence, member: Membership, contacts: Mapping[str, Contact],
                    people: Mapping[Address, str]) -> SentEnrollment:
    """The record of the request about to be sent for `member`."""
    identity = membership_identity(seq, member, contacts)
    contact = people.get(contact_address(seq.provider, member)) if member.contact_id else member.candidate_id
    return SentEnrollment(identity.target, identity.person, contact)
