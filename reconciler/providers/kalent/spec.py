"""Kalent as the core sees it: defaults, the keys its manifests may use (blueprints, sourcings,
candidate ids), its error envelope, and how to build its parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.model import Blueprint, ProviderConfig
from reconciler.providers.kalent.rules import compared_steps, step_problems
from reconciler.providers.spec import (
    AsyncStarts,
    BlueprintRules,
    ConfigKey,
    Envelope,
    PersonIds,
    SandboxEvents,
    SequenceRules,
    VendorSpec,
    plain_envelope,
)

CANDIDATE_KEY = "kalent_candidate_id"


@dataclass(frozen=True, slots=True)
class KalentConfig(ProviderConfig):
    """A Kalent account: starts are asynchronous and may take `start_settle_minutes` to show."""

    start_settle_minutes: float = 10.0


def envelope(body: Any) -> Envelope:
    """`{"success": false, "error": {"code", "message", "debugTrackingCode", "details"}}`, or the older
    `{"success": false, "error": "Rate limit exceeded: ..."}` whose string is the message, not a code."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, str) and "message" not in body:
        details = body.get("details")
        return None, err, dict(details) if isinstance(details, Mapping) else {}, None
    code, message, details, _ = plain_envelope(body)
    return code, message, details, err.get("debugTrackingCode") if isinstance(err, Mapping) else None


def sourcing_of(node: dict[str, Any], blueprints: Mapping[str, Blueprint],
                problems: list[Problem]) -> tuple[bool, str | None]:
    """A sequence's sourcing: its blueprint's when the project declares it (a different one written
    on the sequence is an error), else the one written on the sequence, which is then required."""
    sourcing = node.get("sourcing")
    declared = blueprints.get(node["blueprint"])
    if declared:
        if sourcing and sourcing != declared.sourcing:
            problems.append(problem(node, f"sourcing {sourcing!r} differs from blueprint {declared.id!r}'s "
                                          f"sourcing {declared.sourcing!r}", "sourcing"))
        return True, declared.sourcing
    if not sourcing:
        problems.append(problem(node, "a kalent sequence needs sourcing: (or a blueprint declared in this project)"))
        return False, None
    return True, sourcing


def _provider() -> type:
    from reconciler.providers.kalent.provider import KalentProvider

    return KalentProvider


def _simulator() -> type:
    from reconciler.sandbox.kalent import KalentSimulator

    return KalentSimulator


def _importer() -> Any:
    from reconciler.providers.kalent import importing

    return importing


SPEC = VendorSpec(
    name="kalent",
    title="Kalent",
    base_url="https://app.kalent.ai/api/v1",
    rate_limits={"requests_per_minute": 60},
    sandbox_key="kalent_sandbox_local",
    sandbox_root="/api/v1",
    provider=_provider,
    simulator=_simulator,
    importer=_importer,
    config_type=KalentConfig,
    config_keys={"start_settle_minutes": ConfigKey({
        "description": "Kalent: how long after a start whose answer was lost 'no sequence yet' still proves nothing "
                       "(starts are asynchronous); until then the member is deferred, never started again. "
                       "Default 10.",
        "type": "number", "minimum": 1}, exclusive=False, convert=float)},
    sequences=SequenceRules(
        target_key="blueprint",
        target_noun="blueprint",
        keys={
            "blueprint": {"description": "Kalent: a blueprint id, or the id of a blueprint declared in this project.",
                          "type": "string", "minLength": 1},
            "sourcing": {"description": "Kalent: the sourcing (job) name or id the blueprint belongs to.",
                         "type": "string", "minLength": 1},
            "candidates": {"description": "Kalent: candidate ids enrolled directly.", "type": "array",
                           "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        },
        group=sourcing_of,
    ),
    blueprints=BlueprintRules(step_problems=step_problems, compared=compared_steps),
    person_ids=PersonIds(
        contact_key=CANDIDATE_KEY, scheme="kalent", noun="candidate id", direct_key="candidates",
        contact_schema={"description": "Kalent candidate id of this person (Kalent has no email matching).",
                        "type": "string", "minLength": 1}),
    envelope=envelope,
    async_starts=AsyncStarts(setting="start_settle_minutes", minutes=lambda c: KalentConfig.of(c).start_settle_minutes,
                             person="candidate", none="no sequence"),
    sandbox_events=SandboxEvents(person_key="candidate", person=lambda contact: contact.person_id(CANDIDATE_KEY)),
)
