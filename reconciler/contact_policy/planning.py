"""The one hook plan, apply and drift call after compute_plan: the policy pass, the forecast, and the
`max_messages_per_day` safety limit, all recorded in `plan.policy` (docs/plan-json.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.contact_policy.enforce import enforce, window_refusal
from reconciler.contact_policy.forecast import forecast, over_daily_limit
from reconciler.model import Address, DesiredState
from reconciler.plan_types import Plan
from reconciler.snapshot import LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import SystemClock


def with_contact_policy(plan: Plan, desired: DesiredState, live: LiveSnapshot,
                        ledger: Mapping[Address, StateRecord], now: datetime) -> Plan:
    """`plan` after the contact policy (changed in place and returned)."""
    decisions = enforce(plan, desired, live, ledger, now)
    volume = forecast(plan, live)
    plan.policy = {"declared": desired.project.policy.declared, "decisions": [d.to_dict() for d in decisions],
                   "forecast": volume}
    return plan


def policy_safety(plan: Plan, desired: DesiredState) -> list[tuple[str, str]]:
    """The safety limits the contact policy adds (max_messages_per_day), as (flag, reason)."""
    refused = over_daily_limit((plan.policy or {}).get("forecast") or {"next_24h": 0},
                               desired.project.safety.max_messages_per_day)
    return [("--allow-large", refused)] if refused else []


def needs_whole_plan(desired: DesiredState) -> bool:
    """Whether the policy must see every vendor's read before any vendor writes: a rule about the
    person across vendors, or a limit on the whole plan's forecast."""
    return desired.project.policy.cross_vendor or desired.project.safety.max_messages_per_day is not None


def policy_now(session: Any) -> datetime:
    """The clock policy decisions use. A clock injected into the session (tests) decides; otherwise,
    with the sandbox in-process, its simulated clock (vendor times are on it, and `sandbox advance`
    moves it, as drift's ages do); otherwise the session's clock or the machine's."""
    clock = getattr(session, "clock", None)
    injected = clock is not None and not isinstance(clock, SystemClock)
    hub = getattr(session, "hub", None)
    if not injected and hub is not None and getattr(hub, "simulators", None):
        return datetime.fromtimestamp(next(iter(hub.simulators.values())).clock.now(), tz=UTC)
    if clock is not None:
        value = clock.now()
        return value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), tz=UTC)
    return datetime.now(UTC)


def needs_ledger(desired: DesiredState) -> bool:
    """Whether the pass reads the state's ledger (enrollments the live read no longer covers)."""
    policy = desired.project.policy
    return policy.declared and bool(policy.cooldown_days or policy.vendor_opt_outs or policy.exclusive)


def dispatch_refusal(session: Any, sequence_id: str) -> str | None:
    """Why apply must not dispatch this sequence's enrollments right now (outside its send windows),
    checked right before each batch: a plan saved inside a window may be applied after it closed."""
    policy = session.desired.project.policy
    if not policy.send_windows:
        return None
    why = window_refusal(policy, sequence_id, policy_now(session))
    return why[0] if why else None
