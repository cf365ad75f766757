"""Relay's adapter: one list of deliveries per campaign, one POST per enrollment (never retried blind).
It keeps nothing between its read and its writes, so `seen` (what a read hands back) is unused."""

from __future__ import annotations

from typing import Any

from reconciler.errors import ProviderError, ValidationFailed
from reconciler.model import Address, Blueprint, Card, Contact, DesiredState, Pipeline, ProviderConfig, Sequence
from reconciler.providers._http import VendorClient
from reconciler.providers._paths import seg
from reconciler.providers.base import Capabilities, CardUpdate, EnrollRequest, EnrollResult
from reconciler.read_input import ReadInput
from reconciler.snapshot import ACTIVE, FINISHED, LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot
from tests.architecture.relay.spec import RelayConfig

STATUSES = {"queued": ACTIVE, "sent": FINISHED}


class RelayProvider:
    capabilities = Capabilities(can_list_memberships=True)

    def __init__(self, config: ProviderConfig, api_key: str, *, transport: Any = None, **client_options: Any) -> None:
        self.config = config = RelayConfig.of(config)
        self._client = VendorClient.for_provider(config, api_key, headers={"x-relay-key": api_key},
                                                 transport=transport, **client_options)

    def _path(self, seq: Sequence) -> str:
        return f"/campaigns/{seg(seq.target)}/deliveries"

    def _by_address(self, seq: Sequence) -> dict[str, dict[str, Any]]:
        """Recipient -> their latest delivery in the sequence's campaign."""
        return {d["to"]: d for d in self._client.get(self._path(seq)).json["deliveries"]}

    def _member(self, address: Address, delivery: dict[str, Any]) -> LiveMembership:
        return LiveMembership(address=address, remote_id=delivery["id"], vendor_status=delivery["status"],
                              status=STATUSES.get(delivery["status"], ACTIVE), since=delivery["created_at"])

    def read(self, desired: DesiredState, given: ReadInput) -> LiveSnapshot:
        snap = LiveSnapshot()
        before = sum(self._client.counts.values())
        for seq in (s for s in desired.sequences if s.provider == self.config.name):
            sent = self._by_address(seq)
            for member in seq.members:
                contact = desired.contacts.get(member.contact_id or "")
                if contact and contact.primary_email in sent:
                    snap.memberships[member.address] = self._member(member.address, sent[contact.primary_email])
        snap.requests[self.config.name] = sum(self._client.counts.values()) - before
        return snap

    def enroll(self, sequence: Sequence, batch: list[EnrollRequest], *, seen: Any = None) -> list[EnrollResult]:
        results = []
        for request in batch:
            address = request.membership.address
            try:
                if request.contact is None or not request.contact.primary_email:
                    raise ValidationFailed(self.config.name, "POST", self._path(sequence), None,
                                           f"{address}: Relay delivers to an email address")
                reply = self._client.write("POST", self._path(sequence), idempotent=False,
                                           json={"to": request.contact.primary_email,
                                                 "priority": sequence.setting("priority")})
            except ProviderError as exc:
                results.append(EnrollResult(address, error=exc, request_id=exc.request_id))
                continue
            results.append(EnrollResult(address, live=self._member(address, reply.json["delivery"]),
                                        request_id=reply.request_id))
        return results

    def resolve_enrollment(self, sequence: Sequence, request: EnrollRequest, *, sent_at: str | None = None,
                           seen: Any = None) -> LiveMembership | None:
        email = request.contact.primary_email if request.contact else None
        delivery = self._by_address(sequence).get(email or "")
        return self._member(request.membership.address, delivery) if delivery else None

    def _no(self, what: str) -> ProviderError:
        return ValidationFailed(self.config.name, "-", "-", None, f"Relay has no {what}")

    def create_card(self, pipeline: Pipeline, card: Card, contact: Contact, ownership_tag: str, *,
                    seen: Any = None) -> LiveCard:
        raise self._no("cards")

    def find_card(self, pipeline: Pipeline, card: Card, contact: Contact, *, seen: Any = None) -> LiveCard | None:
        raise self._no("cards")

    def update_card(self, pipeline: Pipeline, live: LiveCard, update: CardUpdate, *, seen: Any = None) -> LiveCard:
        raise self._no("cards")

    def delete_card(self, pipeline: Pipeline, live: LiveCard) -> None:
        raise self._no("cards")

    def create_blueprint(self, blueprint: Blueprint) -> LiveBlueprint:
        raise self._no("blueprints")

    def find_blueprint(self, blueprint: Blueprint) -> LiveBlueprint | None:
        raise self._no("blueprints")

    def update_blueprint(self, blueprint: Blueprint, live: LiveBlueprint) -> LiveBlueprint:
        raise self._no("blueprints")

    def request_counts(self) -> dict[str, int]:
        return dict(self._client.counts)

    def close(self) -> None:
        self._client.close()
