"""Clarky as the core sees it: defaults, the keys its manifests may use, how to build its parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reconciler.model import ProviderConfig
from reconciler.providers.spec import ConfigKey, SandboxEvents, SequenceRules, Stall, VendorSpec


@dataclass(frozen=True, slots=True)
class ClarkyConfig(ProviderConfig):
    """A Clarky account: `bot_id` is the default bot for starts whose template has none, and for
    contacts created for cards."""

    bot_id: str | None = None


def _provider() -> type:
    from reconciler.providers.clarky.provider import ClarkyProvider

    return ClarkyProvider


def _simulator() -> type:
    from reconciler.sandbox.clarky import ClarkySimulator

    return ClarkySimulator


def _importer() -> Any:
    from reconciler.providers.clarky import importing

    return importing


SPEC = VendorSpec(
    name="clarky",
    title="Clarky",
    base_url="https://clarky.ai/api/v1",
    rate_limits={"reads_per_minute": 120, "writes_per_minute": 60},
    sandbox_key="ck_live_sandbox_local",
    sandbox_root="/api/v1",
    provider=_provider,
    simulator=_simulator,
    importer=_importer,
    config_type=ClarkyConfig,
    config_keys={"bot_id": ConfigKey({
        "description": "Clarky: default bot for starts whose template has none, and for contacts created for cards.",
        "type": "string"})},
    sequences=SequenceRules(
        target_key="template",
        target_noun="template",
        keys={
            "template": {"description": "Clarky: the sequence template id (tpl_...).", "type": "string",
                         "minLength": 1},
            "bot_id": {"description": "Clarky: bot for this sequence when the template has none (overrides the "
                                      "provider's bot_id).", "type": "string"},
            "name": {"description": "Clarky: display name of the generated sequence.", "type": "string"},
            "auto_approve": {"description": "Clarky only: skip the human review gate. The first call or email goes "
                                            "out within seconds; flagged in every plan.", "type": "boolean"},
        },
        settings=("bot_id", "auto_approve"),
        loud=lambda node: bool(node.get("auto_approve", False)),
    ),
    pipelines=True,
    replays_starts=True,
    sandbox_events=SandboxEvents(unsubscribe=True, move_card=("move_card", "card_id"),
                                 archive_card=("archive_card", "card_id"), card_prefix="pc_"),
    stalls={
        "generating": Stall("stuck_generating", timedelta(minutes=15), "stuck in generating"),
        "pending_approval": Stall("pending_approval", timedelta(hours=24), "pending approval"),
    },
)
