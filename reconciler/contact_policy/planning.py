"""The one hook plan, apply and drift call after compute_plan: the policy pass, the forecast, and the
`max_messages_per_day` safety limit, all recorded in `plan.policy` (docs/plan-json.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.contact_policy.enforce import enforce, window_refusal
from reconciler.contact_policy.forecast import forecast, over_daily_limit
from reconciler.model import Address, DesiredState
from reconciler.plan_types import Change, Plan
from reconciler.providers import vendors
from reconciler.snapshot import LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import SystemClock
from reconciler.vocabulary import Action

if TYPE_CHECKING:  # the session imports the engine, which imports this module
    from reconciler.session import Session


def with_contact_policy(plan: Plan, desired: DesiredState, live: LiveSnapshot,
                        ledger: Mapping[Address, StateRecord], now: datetime) -> Plan:
    """`plan` after the contact policy (changed in place and returned)."""
    decisions = enforce(plan, desired, live, ledger, now)
    _replay_refusals(plan, desired, live, ledger, now)
    volume = forecast(plan, live)
    plan.policy = {"declared": desired.project.policy.declared, "decisions": [d.to_dict() for d in decisions],
                   "forecast": volume}
    return plan


def enroll_refusals(session: Session, live: LiveSnapshot, addresses: set[Address]) -> dict[Address, str]:
    """Why the contact policy would hold back an enrollment of each of `addresses` now (address ->
    reason; absent: allowed). A keyed replay of a start in doubt is one, if the start never arrived."""
    desired = session.desired
    if not desired.project.policy.declared:
        return {}
    ledger = session.store.cache_view() if needs_ledger(desired) else {}
    return _refusals(desired, live, ledger, policy_now(session), addresses)


def _refusals(desired: DesiredState, live: LiveSnapshot, ledger: Mapping[Address, StateRecord], now: datetime,
              addresses: set[Address]) -> dict[Address, str]:
    members = sorted(a for a in addresses if a.kind == "membership")
    if not desired.project.policy.declared or not members:
        return {}
    probe = Plan(changes=[Change(address=a, action=Action.ENROLL, provider=a.provider, irreversible=True, before=None,
                                 after=None, precondition={}) for a in members])
    return {d.address: d.reason for d in enforce(probe, desired, live, ledger, now)}


def _replay_refusals(plan: Plan, desired: DesiredState, live: LiveSnapshot, ledger: Mapping[Address, StateRecord],
                     now: datetime) -> None:
    """A start in doubt that apply would settle by its keyed replay is a start if it never arrived: its
    `defer` says so when the policy holds the person back now (apply then does not replay it)."""
    types = {name: cfg.type for name, cfg in desired.project.providers.items()}
    replayed = {c.address for c in plan.changes if c.action == Action.DEFER and c.address in live.pending
                and c.address not in live.held and vendors.replays_starts(types.get(c.address.provider, ""))}
    refused = _refusals(desired, live, ledger, now, replayed)
    if not refused:
        return
    plan.changes = [replace(c, reason=f"an earlier enrollment attempt has an unknown outcome; apply does not settle it "
                                      f"by replaying its key, which would start it if it never arrived: "
                                      f"{refused[c.address]}") if c.address in refused else c for c in plan.changes]


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
