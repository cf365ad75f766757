"""An apply whose plan is already fixed: each vendor reads, settles and writes on its own.

When nobody has to look at the whole plan between the read and the writes (a saved, reviewed plan,
or `--auto-approve`), a vendor's writes start as soon as that vendor's own read is done, so a slow
vendor (one status read per person, where no list exists) no longer holds up the others' writes.

What stays global, checked before the first write of any vendor:
- the safety limits. A saved plan carries its verdict (enforced by the caller before anything is
  read). An `--auto-approve` plan is only known once every vendor is read, so a vendor starts early
  only when the limits hold whatever the vendors not yet read turn out to hold (every member of
  theirs a new enrollment, within its daily cap; any vendor with pipelines or an empty sequence not
  yet read holds everyone back); otherwise every vendor waits for the last read, exactly as before.
- the apply lock, held by the caller for the whole run.
The gate's verdict is computed once, by the thread that finds every vendor read; if that step raises,
the verdict is a refusal for every vendor still waiting, and the error (a PlanError naming the step)
is that vendor's failure. An exception anywhere in a vendor's thread is recorded as its failure.

What is unchanged, per vendor: its journal intents are resolved by its own read before its first
write (read-only first, then settled once the plan is fixed, as in an interactive apply), every
change's precondition is checked against that read, and every write goes through the Applier (a
durable intent before each request, an outcome after).

A stale saved change refuses that vendor's changes (without `--partial`); other vendors, whose
changes still hold as reviewed, go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar

from reconciler.apply import Applier
from reconciler.apply_report import ApplyReport, ChangeResult
from reconciler.contact_policy.planning import needs_ledger, needs_whole_plan, policy_now, with_contact_policy
from reconciler.engine import Session, contact_policy_pass, policies_for, read_context, read_provider, settle_in_doubt
from reconciler.errors import PlanError
from reconciler.model import Address, DesiredState
from reconciler.plan import check_precondition, compute_plan, safety_violations
from reconciler.plan_types import Change, Plan
from reconciler.read_input import ReadContext
from reconciler.snapshot import LiveSnapshot
from reconciler.state import utcnow
from reconciler.vocabulary import ApplyStatus

_T = TypeVar("_T")


@dataclass
class PipelineResult:
    """What the vendors did; `errors` are the first failure of each vendor that stopped early."""

    report: ApplyReport
    errors: dict[str, BaseException] = field(default_factory=dict)
    stale: list[tuple[Change, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # safety reasons, when the whole plan was refused
    planned: int = 0  # executable changes across the vendors that got as far as a plan
    in_doubt: int = 0


def sends_bound(desired: DesiredState, provider: str) -> int:
    """The most new enrollments a plan can hold for `provider` before it is read: every member, or a
    sequence's daily cap if lower (what was sent in the last 24 h only lowers it further)."""
    total = 0
    for seq in desired.sequences:
        if seq.provider == provider:
            total += len(seq.members) if seq.daily_cap is None else min(len(seq.members), seq.daily_cap)
    return total


def unbounded(desired: DesiredState, provider: str) -> bool:
    """Whether the safety limits can turn on what `provider` holds live in ways no count of the manifests
    bounds: removals from its pipelines, or live enrollments of a sequence that declares nobody."""
    return any(p.provider == provider for p in desired.pipelines) or any(
        s.provider == provider and not s.members for s in desired.sequences)


class FixedPlanApply:
    """One apply run; `plan` is the saved plan (already filtered by --target and safety-checked), or
    None to plan each vendor from its own read (`--auto-approve` without --target: a glob is checked
    against the whole plan, so that one reads every vendor first)."""

    def __init__(self, session: Session, *, plan: Plan | None, allow: Callable[[Plan], list[str]], partial: bool,
                 progress: Callable[[ChangeResult], None] | None = None,
                 planned: Callable[[int], None] | None = None, writing: Callable[[], None] | None = None,
                 vendor_plan: Callable[[str, Plan], None] | None = None,
                 settled: Callable[[Address], None] | None = None) -> None:
        """`allow` lists the safety reasons the flags do not override;
        `writing` is called before a vendor's first write request (signals then stop gracefully);
        `vendor_plan` gets a vendor's plan once its writes may start (when it holds anything to show);
        `settled` each in-doubt enrollment a vendor's settling proved to exist."""
        self.session = session
        self.plan = plan
        self._allow = allow
        self.partial = partial
        self._vendor_plan = vendor_plan
        self._settled = settled
        self._planned = planned
        self._writing = writing
        self.applier = Applier(session, LiveSnapshot(), progress=progress)
        self.result = PipelineResult(self.applier.report)
        self._names = sorted(session.providers)
        self._cond = threading.Condition()
        self._parts: dict[str, tuple[LiveSnapshot, Plan]] = {}
        self._failed: set[str] = set()
        self._passed: set[str] = set()  # vendors the gate let write
        self._verdict: list[str] | None = None  # None: not decided; []: allowed; else the refusal
        self._verdicts: list[tuple[str, str]] = []  # every limit the whole plan exceeds (flags aside)

    def run(self) -> PipelineResult:
        started = utcnow(self.session.clock)
        ctx = read_context(self.session)
        with ThreadPoolExecutor(max_workers=max(1, len(self._names))) as pool:
            list(pool.map(lambda name: self._vendor(name, ctx, started), self._names))
        self.applier.finish()
        return self.result

    # -- one vendor ---------------------------------------------------------------------------
    def _vendor(self, name: str, ctx: ReadContext, started: str) -> None:
        try:
            live = read_provider(self.session, name, ctx, read_started=started, read_only=True)
            self._part(name, live)
        except BaseException as exc:  # noqa: BLE001 - recorded, given to the caller once every vendor is done
            with self._cond:
                self.result.errors[name] = exc
                self._failed.add(name)
                self._cond.notify_all()
            return
        try:
            self._write(name, live)
        except BaseException as exc:  # noqa: BLE001 - a worker thread: the caller raises it after the others finish
            with self._cond:
                self.result.errors.setdefault(name, exc)

    def _write(self, name: str, live: LiveSnapshot) -> None:
        """This vendor's writes, once the gate lets them start."""
        if not self._may_write(name):
            return
        part = self._parts[name][1]  # the contact policy may have held some of its changes back
        todo = [c for c in part.changes if c.executable]
        in_doubt = sum(1 for c in part.changes if c.address in live.pending and c.action == "defer")
        with self._cond:
            self.result.planned += len(todo)
            self.result.in_doubt += in_doubt
        if not todo and not in_doubt:
            return
        if self._planned and todo:
            self._planned(len(todo))
        stale = [(c, why) for c in todo if (why := check_precondition(c, live))]
        if stale and not self.partial:
            with self._cond:
                self.result.stale.extend(stale)
            return
        if self._writing:
            self._writing()
        if not self.session.stop.is_set():  # once stopped, run_provider only reports what was not started
            for addr in settle_in_doubt(self.session, live, only=name):
                if self._settled:
                    self._settled(addr)
        self.applier.run_provider(name, todo, live)

    def _part(self, name: str, live: LiveSnapshot) -> Plan:
        """This vendor's changes: from the saved plan, or planned from its own read."""
        if self.plan is not None:
            part = replace(self.plan, changes=[c for c in self.plan.changes if c.provider == name])
        else:
            # Policies after this vendor's read (it may have settled some of its sends): its sequences'
            # caps as a single plan would see them; other vendors' writes touch only their own sequences.
            policies = policies_for(self.session)
            mine = desired_for(self.session.desired, name)
            part = compute_plan(mine, live, policies)
            if not needs_whole_plan(self.session.desired):  # else once every vendor is read (_exact)
                part = contact_policy_pass(self.session, live, part, mine)
        with self._cond:
            self._parts[name] = (live, part)
            self._cond.notify_all()
        return part

    # -- the global gate ----------------------------------------------------------------------
    def _may_write(self, name: str) -> bool:
        """Wait until the safety limits allow this vendor's writes (at once for a saved plan, unless a
        contact policy is declared: then once every vendor is read, see `_recheck_saved`)."""
        if self.plan is not None and not self.session.desired.project.policy.declared:
            return True
        with self._cond:
            while self.plan is not None:
                if self._verdict is not None:
                    return self._passes(name, not self._verdict)
                if len(self._parts) == len(self._names):
                    self._verdict = self._gate("the contact policy's re-check of the saved plan", self._recheck_saved)
                    self._cond.notify_all()
                    continue
                if len(self._parts) + len(self._failed) == len(self._names):
                    return False  # a vendor could not be read: who opted out there is unknown, nobody is enrolled
                self._cond.wait()
            while True:
                if self._verdict is not None:
                    return self._passes(name, not self._verdict and self._shown(name))
                if len(self._parts) == len(self._names):
                    self._verdict = self._gate("the safety check of the whole plan", self._exact)
                    self.result.refused = list(self._verdict)
                    self._cond.notify_all()
                    continue
                if not needs_whole_plan(self.session.desired) and self._gate("the safety bound of an early start",
                                                                             self._bound_holds):
                    return self._passes(name, self._shown(name))
                if len(self._parts) + len(self._failed) == len(self._names):
                    return False  # a vendor could not be read: the whole plan is unknown, its bound does not hold
                self._cond.wait()

    def _gate(self, what: str, step: Callable[[], _T]) -> _T:
        """One step of the global gate, called with `_cond` held. If it raises, no vendor still at the
        gate may write (the verdict becomes a refusal, and every waiting thread wakes to it); the
        error names the step and what was sent. The step is never run again by another thread."""
        try:
            return step()
        except BaseException as exc:
            self._verdict = [f"{what} failed"]
            self._cond.notify_all()
            if not isinstance(exc, Exception):
                raise
            writing = ", ".join(sorted(self._passed))
            outcome = (f": no vendor still waiting writes; only {writing}, which had already started, may have sent"
                       if writing else ", so no vendor writes; nothing was sent")
            raise PlanError(f"{what} failed{outcome}: {type(exc).__name__}: {exc}") from exc

    def _passes(self, name: str, allowed: bool) -> bool:
        """Note a vendor the gate let through (its writes may start); called with `_cond` held."""
        if allowed:
            self._passed.add(name)
        return allowed

    def _shown(self, name: str) -> bool:
        self._show(name)
        return True

    def _show(self, name: str) -> None:
        part = self._parts[name][1]
        if self._vendor_plan and (part.changes or part.warnings or part.diverged or part.safety):
            self._vendor_plan(name, part)

    def part(self, name: str) -> Plan:
        """One vendor's plan (after its read)."""
        return self._parts[name][1]

    def whole(self) -> Plan:
        """The plan of every vendor read, in the order a single plan lists it."""
        parts = [self._parts[n][1] for n in self._names if n in self._parts]
        return Plan(changes=sorted((c for p in parts for c in p.changes), key=lambda c: (str(c.address), c.action)),
                    unchanged=sum(p.unchanged for p in parts),
                    diverged=sorted((d for p in parts for d in p.diverged), key=lambda d: str(d.address)),
                    warnings=sorted({w for p in parts for w in p.warnings}),
                    safety=list(self._verdicts))

    def _merged_live(self) -> LiveSnapshot:
        """Every vendor's read as one snapshot, in name order (as a single plan merges them)."""
        live = LiveSnapshot()
        for name in self._names:
            live.merge(self._parts[name][0])
        return live

    def _exact(self) -> list[str]:
        """Every vendor read: the safety limits over the whole plan, as a single plan would see them."""
        live = self._merged_live()
        whole = self.whole()
        whole.safety = safety_violations(self.session.desired, live, whole)
        if needs_whole_plan(self.session.desired):  # the contact policy sees every vendor's read at once
            whole = contact_policy_pass(self.session, live, whole)
            for name in self._names:
                snap, part = self._parts[name]
                self._parts[name] = (snap, replace(part, changes=[c for c in whole.changes if c.provider == name],
                                                   safety=[], policy=whole.policy))
        self._verdicts = list(whole.safety)
        return self._allow(whole)

    def _recheck_saved(self) -> list[str]:
        """A saved plan under a contact policy, once every vendor is read: the policy again over its
        changes against these reads, as a fresh plan would see them. A person who opted out, started
        elsewhere or ended an enrollment since the plan was saved is held back (reported skipped,
        nothing sent); the plan's other changes go ahead. Called with `_cond` held."""
        live = self._merged_live()
        saved = [c for name in self._names for c in self._parts[name][1].changes]
        desired = self.session.desired
        ledger = self.session.store.cache_view() if needs_ledger(desired) else {}
        checked = with_contact_policy(Plan(changes=list(saved)), desired, live, ledger, policy_now(self.session))
        decisions = {d["address"]: d for d in (checked.policy or {}).get("decisions", ())}
        for change in saved:
            decision = decisions.get(str(change.address))
            if change.executable and decision is not None:
                held = "deferred" if decision["action"] == "defer" else "held back"
                later = "; a later apply enrolls it" if decision["action"] == "defer" else ""
                self.applier.record(ChangeResult(str(change.address), change.action, ApplyStatus.SKIPPED,
                                                 f"{held} by the contact policy, nothing sent: {decision['reason']}"
                                                 f"{later}"))
        for name in self._names:
            snap, part = self._parts[name]
            self._parts[name] = (snap, replace(part, changes=[c for c in checked.changes if c.provider == name]))
        return []

    def _bound_holds(self) -> bool:
        """Whether the limits hold for the whole plan whatever the vendors not yet read hold."""
        desired = self.session.desired
        unread = [n for n in self._names if n not in self._parts]
        if any(unbounded(desired, n) for n in unread) and self._allow(_UNKNOWN_REMOVALS):
            return False
        live = LiveSnapshot()
        changes: list[Change] = []
        for snap, part in self._parts.values():
            live.merge(snap)
            changes.extend(part.changes)
        read = Plan(changes=changes)
        read.safety = safety_violations(desired_for_many(desired, set(self._parts)), live, read)
        sends = sum(1 for c in changes if c.action in ("enroll", "retry"))
        most = sends + sum(sends_bound(desired, n) for n in unread)
        limit = desired.project.safety.max_new_memberships_per_apply
        if most > limit:
            read.safety.append(("--allow-large", f"up to {most} new enrollments (vendors not read yet counted in full) "
                                                 f"exceed max_new_memberships_per_apply ({limit})"))
        return not self._allow(read)


def desired_for_many(desired: DesiredState, providers: set[str]) -> DesiredState:
    """The part of `desired` the given providers hold."""
    return replace(desired, sequences=tuple(s for s in desired.sequences if s.provider in providers),
                   pipelines=tuple(p for p in desired.pipelines if p.provider in providers),
                   blueprints=tuple(b for b in desired.blueprints if b.provider in providers))


def desired_for(desired: DesiredState, provider: str) -> DesiredState:
    """The part of `desired` one provider holds (contacts stay whole: they are looked up by id)."""
    return desired_for_many(desired, {provider})


# The removal limits of a vendor not read yet cannot be bounded: only --force lets others start early.
_UNKNOWN_REMOVALS = Plan(changes=[], safety=[("--force", "removals of a vendor not read yet are unknown")])
