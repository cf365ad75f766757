"""The plan's data: Change, FieldChange, Divergence, Plan, and their stable JSON form
(docs/plan-json.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.model import Address
from reconciler.vocabulary import Action

FORMAT_VERSION = 1
ACTIONS = tuple(Action)  # the plan's summary order
# `rename` writes only to the state (the enrollment's row moves to its new address): nothing is sent.
EXECUTABLE = frozenset(a for a in Action if a.executable)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's before and after."""

    path: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change to one address."""

    address: Address
    action: Action
    provider: str
    irreversible: bool
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    precondition: dict[str, Any]
    field_changes: tuple[FieldChange, ...] = ()
    reason: str | None = None
    loud: bool = False  # the sequence sends within seconds (VendorSpec.sequences.loud)
    attempt: int = 0

    def __post_init__(self) -> None:
        if type(self.action) is not Action:  # a plain string (a saved plan, a test): checked once, here
            object.__setattr__(self, "action", Action(self.action))

    @property
    def executable(self) -> bool:
        return self.action in EXECUTABLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": str(self.address),
            "action": self.action,
            "provider": self.provider,
            "irreversible": self.irreversible,
            "auto_approve": self.loud,
            "attempt": self.attempt,
            "before": self.before,
            "after": self.after,
            "field_changes": [f.to_dict() for f in self.field_changes],
            "reason": self.reason,
            "precondition": self.precondition,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            address=Address.parse(data["address"]),
            action=Action(data["action"]),
            provider=data["provider"],
            irreversible=data["irreversible"],
            before=data.get("before"),
            after=data.get("after"),
            precondition=data.get("precondition") or {},
            field_changes=tuple(FieldChange(**f) for f in data.get("field_changes") or ()),
            reason=data.get("reason"),
            loud=data.get("auto_approve", False),
            attempt=data.get("attempt", 0),
        )


@dataclass(frozen=True, slots=True)
class Divergence:
    """A live difference the policies let stand (a person moved a card under stage_policy: initial)."""

    address: Address
    path: str
    desired: Any
    live: Any
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": str(self.address), "path": self.path, "desired": self.desired, "live": self.live,
                "why": self.why}


@dataclass
class Plan:
    """Every change, sorted by address; no-ops are counted, not listed."""

    changes: list[Change]
    unchanged: int = 0
    diverged: list[Divergence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest_digest: str = ""
    tool_version: str = ""
    created_at: str = ""
    safety: list[tuple[str, str]] = field(default_factory=list)  # (override flag, reason)
    # Contact policy: its decisions and the volume forecast (docs/plan-json.md); None when not evaluated.
    policy: dict[str, Any] | None = None

    def counts(self) -> dict[Action, int]:
        out = dict.fromkeys(Action, 0)
        for change in self.changes:
            out[change.action] += 1
        return out

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {k: v for k, v in self.counts().items() if v}
        return {**counts, "unchanged": self.unchanged,
                "irreversible": sum(1 for c in self.changes if c.irreversible)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "manifest_digest": self.manifest_digest,
            "summary": self.summary(),
            "changes": [c.to_dict() for c in self.changes],
            "diverged": [d.to_dict() for d in self.diverged],
            "safety": [{"override": flag, "reason": reason} for flag, reason in self.safety],
            "warnings": list(self.warnings),
        } | ({"policy": self.policy} if self.policy is not None else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported plan format_version {data.get('format_version')!r} "
                             f"(expected {FORMAT_VERSION})")
        return cls(
            changes=[Change.from_dict(c) for c in data["changes"]],
            unchanged=data.get("summary", {}).get("unchanged", 0),
            diverged=[Divergence(Address.parse(d["address"]), d["path"], d["desired"], d["live"], d["why"])
                      for d in data.get("diverged") or ()],
            warnings=list(data.get("warnings") or ()),
            manifest_digest=data["manifest_digest"],
            tool_version=data.get("tool_version", ""),
            created_at=data.get("created_at", ""),
            safety=[(s["override"], s["reason"]) for s in data.get("safety") or ()],
            policy=data.get("policy"),
        )
