"""Gary Club as the core sees it: defaults, the keys its manifests may use, how to build its parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.model import ProviderConfig
from reconciler.providers.spec import ConfigKey, SandboxEvents, SequenceRules, VendorSpec


@dataclass(frozen=True, slots=True)
class GaryClubConfig(ProviderConfig):
    """A Gary Club account: `client_id` is the client tenancy an agency key acts as."""

    client_id: str | None = None


def _provider() -> type:
    from reconciler.providers.garyclub.provider import GaryClubProvider

    return GaryClubProvider


def _simulator() -> type:
    from reconciler.sandbox.garyclub import GaryClubSimulator

    return GaryClubSimulator


def _importer() -> Any:
    from reconciler.providers.garyclub import importing

    return importing


SPEC = VendorSpec(
    name="garyclub",
    title="Gary Club",
    base_url="https://agency.gary.club/api/public/v1",
    rate_limits={"requests_per_minute": 60},
    sandbox_key="gc_live_sandbox_local",
    sandbox_root="/api/public/v1",
    provider=_provider,
    simulator=_simulator,
    importer=_importer,
    config_type=GaryClubConfig,
    config_keys={"client_id": ConfigKey({
        "description": "Gary Club: client tenancy to act as with an agency key (sent as X-Gary-Client-Id).",
        "type": "string"})},
    sequences=SequenceRules(
        target_key="sequence",
        target_noun="sequence",
        keys={
            "sequence": {"description": "Gary Club: sequence name or id.", "type": "string", "minLength": 1},
            "metadata": {"description": "Gary Club: free-form attribution stored on each enrollment.",
                         "type": "object"},
        },
        fold_target=True,  # sequence names match regardless of case
    ),
    pipelines=True,
    reply_reasons=frozenset({"reply_received"}),
    sandbox_events=SandboxEvents(move_card=("move_deal", "deal_id")),
)
