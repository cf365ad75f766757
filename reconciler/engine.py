"""Read the live state for a campaigns directory: providers, state records, in-doubt resolution.

`plan`, `apply` and `drift` all start here, in a session (reconciler/session.py): decide what each
provider is given to read (reconciler/read_input.py), read live, merge it with what the state knows
(the settle window of asynchronous starts, reconciler/settle_window.py; renames and known enrollments
now absent, reconciler/live_merge.py), resolve every write whose
outcome the journal leaves in doubt (reconciler/in_doubt.py: by reading, or by an idempotency-keyed
replay that cannot send twice), and only then compute the plan. Only apply records what it read
(reconciler/read_record.py); `plan` and `drift` write nothing to the state.

Choices: providers are read side by side (one thread each; independent accounts and budgets).
`plan` and `drift` read with `read_only`: a start in doubt on a vendor that cannot list its
enrollments can only be settled by a keyed replay, and replaying a start that never arrived sends
it, so they leave it `pending` for apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from reconciler import __version__
from reconciler.contact_policy.planning import (
    enroll_refusals,
    needs_ledger,
    policy_now,
    policy_safety,
    with_contact_policy,
)
from reconciler.in_doubt import resolve_in_doubt, settle_pending
from reconciler.live_merge import carry_renames, known_now_absent, membership_identity
from reconciler.model import Address, DesiredState
from reconciler.plan import Policies, compute_plan, safety_violations
from reconciler.plan_types import Plan
from reconciler.providers.base import Provider
from reconciler.read_input import ReadContext, ReadInput, read_inputs, status_max_age
from reconciler.read_record import record_outcomes, record_read, remember_membership
from reconciler.session import Session, open_session, providers_in_use  # noqa: F401  (re-exported)
from reconciler.settle_window import journal_starts, judge_reads, settle_windows
from reconciler.snapshot import LiveBlueprint, LiveCard, LiveSnapshot
from reconciler.state import utcnow

log = logging.getLogger(__name__)


def policies_for(session: Session) -> Policies:
    """Planner inputs from the providers' capabilities and the journal."""
    caps = {name: p.capabilities for name, p in session.providers.items()}
    return Policies(capabilities=caps, sent_last_24h=session.store.sends_last_24h(), adopted=session.store.adopted(),
                    tool_version=__version__, created_at=utcnow(session.clock))


def read_live(session: Session, *, refresh: bool = False, progress: Callable[[str], None] | None = None,
              read_only: bool = False, record: bool | None = None) -> LiveSnapshot:
    """Read every provider, merge what they said with what the state knows, settle in-doubt writes.

    `read_only` (plan, drift, and apply before its confirmation) sends no write request of any kind:
    in-doubt writes that only a keyed replay could settle stay `pending` instead; the others are
    settled by reading as usual. `record` (apply only; by default a read that is not read-only, which
    only apply makes) writes what was read and settled to the state; plan and drift write nothing."""
    started = utcnow(session.clock)  # rows written after this (by a concurrent writer) are newer than our read
    ctx = read_context(session, refresh=refresh)
    given = provider_inputs(session, ctx)
    live = LiveSnapshot()
    # Providers are independent accounts with their own rate budgets: read them side by side, so a
    # slow or throttled vendor does not hold up the others. Merged in name order (deterministic).
    names = sorted(session.providers)
    snaps: dict[str, LiveSnapshot] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {pool.submit(session.providers[name].read, session.desired, given[name]): name for name in names}
        for future in as_completed(futures):
            snaps[futures[future]] = future.result()
            if progress:
                progress(f"read {futures[future]} ({len(snaps)}/{len(names)} providers)")
    for name in names:
        live.merge(snaps[name])
    windows = settle_windows({n: p.config for n, p in session.providers.items()})
    judge_reads(ctx.cache, live, windows, journal_starts(session.store, windows))
    carry_renames(session.desired, live, ctx.cache)
    resolve_in_doubt(session, live, read_only=read_only)
    known_now_absent(ctx.cache, live)
    if record is None:
        record = not read_only  # a read that may replay a write is apply's
    if record:
        record_read(session.store, live, read_started=started, desired=session.desired, known=ctx.cache)
    return live


def read_provider(session: Session, name: str, ctx: ReadContext, *, read_started: str,
                  read_only: bool = True, record: bool = True) -> LiveSnapshot:
    """One provider's part of `read_live`, for an apply whose plan is already fixed, where each vendor
    goes on to its writes on its own: read it, merge, settle its in-doubt writes, and (`record`, an
    apply's read) record what was read."""
    provider = session.providers[name]
    snap = provider.read(session.desired, provider_inputs(session, ctx, only=name)[name])
    windows = settle_windows({name: provider.config})
    judge_reads(ctx.cache, snap, windows, journal_starts(session.store, windows))
    carry_renames(session.desired, snap, {a: e for a, e in ctx.cache.items() if a.provider == name})
    resolve_in_doubt(session, snap, read_only=read_only, only=name)
    known_now_absent(ctx.cache, snap, provider=name)
    if record:
        record_read(session.store, snap, read_started=read_started, desired=session.desired, known=ctx.cache)
    return snap


def provider_inputs(session: Session, ctx: ReadContext, *, only: str | None = None) -> dict[str, ReadInput]:
    """What each provider's read is given (reconciler/read_input.py): the core decides here, on the
    session's clock, which remembered statuses stand in for the vendor; providers never see the state."""
    names = [only] if only is not None else sorted(session.providers)
    return read_inputs(ctx, {name: max_age(session.providers[name]) for name in names}, session.clock.now())


def max_age(provider: Provider) -> float:
    """How long a remembered status that is not final answers for this provider's vendor."""
    return status_max_age(provider.capabilities.can_list_memberships, provider.config.status_refresh_minutes)


def read_context(session: Session, *, refresh: bool = False) -> ReadContext:
    return ReadContext(cache=session.store.cache_view(), ownership_tag=session.desired.project.ownership_tag,
                       refresh=refresh, adopted=session.store.adopted())


def make_plan(session: Session, live: LiveSnapshot) -> Plan:
    plan = compute_plan(session.desired, live, policies_for(session))
    return contact_policy_pass(session, live, plan)


def contact_policy_pass(session: Session, live: LiveSnapshot, plan: Plan, desired: DesiredState | None = None) -> Plan:
    """The contact policy over a computed plan (reconciler/contact_policy): reads the state, writes nothing.
    The safety limits are counted again over what is left to send (held-back enrollments send nothing)."""
    desired = desired or session.desired
    ledger = session.store.cache_view() if needs_ledger(desired) else {}
    with_contact_policy(plan, desired, live, ledger, policy_now(session))
    if (plan.policy or {}).get("decisions") or desired.project.safety.max_messages_per_day is not None:
        plan.safety = safety_violations(desired, live, plan) + policy_safety(plan, desired)
    return plan


def settle_in_doubt(session: Session, live: LiveSnapshot, *, only: str | None = None) -> list[Address]:
    """Apply, after it was confirmed: settle the in-doubt writes its read-only read left pending (a
    start by its keyed replay, where the vendor cannot list enrollments), and record the outcomes and
    the enrollments found. Returns the addresses settled as present."""
    # A replay of a start that never arrived is a start: never for a person the policy holds back now.
    refused = enroll_refusals(session, live, {a for a in live.pending if only is None or a.provider == only})
    settled = settle_pending(session, live, only=only, refused=refused)
    identities = {m.address: membership_identity(seq, m, session.desired.contacts)
                  for seq, m in session.desired.memberships() if m.address in settled}
    with session.store.batch():
        record_outcomes(session.store, live)
        for addr in settled:
            remember_membership(session.store, live.memberships[addr], identity=identities.get(addr))
    return settled


__all__ = [
    "LiveBlueprint",
    "LiveCard",
    "Session",
    "make_plan",
    "membership_identity",
    "open_session",
    "provider_inputs",
    "read_context",
    "read_live",
    "read_provider",
    "record_read",
    "remember_membership",
    "resolve_in_doubt",
    "settle_in_doubt",
]
