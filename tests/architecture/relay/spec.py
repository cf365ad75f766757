"""Relay's VendorSpec: its defaults, its keys (provider `sender`, sequence `campaign` and `priority`),
its error envelope and its status words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reconciler.model import ProviderConfig
from reconciler.providers.spec import ConfigKey, Envelope, SequenceRules, Stall, VendorSpec, plain_envelope

SANDBOX_KEY = "relay_sandbox_local"


@dataclass(frozen=True, slots=True)
class RelayConfig(ProviderConfig):
    """A Relay account: `sender` is the address deliveries go out from."""

    sender: str | None = None


def envelope(body: Any) -> Envelope:
    """`{"fault": {"kind", "text", "details"}}`."""
    fault = body.get("fault") if isinstance(body, Mapping) else None
    if not isinstance(fault, Mapping):
        return plain_envelope(body)
    details = fault.get("details")
    found = dict(details) if isinstance(details, Mapping) else {}
    return fault.get("kind"), str(fault.get("text") or "error"), found, None


def _provider() -> type:
    from tests.architecture.relay.provider import RelayProvider

    return RelayProvider


def _simulator() -> type:
    from tests.architecture.relay.simulator import RelaySimulator

    return RelaySimulator


SPEC = VendorSpec(
    name="relay",
    title="Relay",
    base_url="https://api.relay.test/v1",
    rate_limits={"requests_per_minute": 600},
    sandbox_key=SANDBOX_KEY,
    sandbox_root="/v1",
    provider=_provider,
    simulator=_simulator,
    config_type=RelayConfig,
    config_keys={"sender": ConfigKey({"description": "Relay: the address deliveries go out from.",
                                      "type": "string"})},
    sequences=SequenceRules(
        target_key="campaign",
        target_noun="campaign",
        keys={"campaign": {"description": "Relay: the campaign name.", "type": "string", "minLength": 1},
              "priority": {"description": "Relay: delivery priority.", "enum": ["low", "high"]}},
        settings=("priority",),
        loud=lambda node: node.get("priority") == "high",
    ),
    envelope=envelope,
    stalls={"queued": Stall("stuck_queued", timedelta(hours=1), "stuck in the queue")},
)
