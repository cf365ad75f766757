"""The command sequences as a library: `plan`, `drift`, and `apply` as prepare -> settle -> execute.

The CLI (reconciler/cli/) only adds options, the prompt, printing and exit codes; tests and bench/
call these functions and ApplyRun directly, so what they measure or prove is what the CLI runs.

The apply sequence (docs/architecture.md, "The apply sequence"):

- prepare: take the apply lock; for a saved plan, check it was made from these manifests (digest),
  keep its --target changes and enforce the safety limits before anything is read; otherwise read
  every vendor (read-only: nothing is sent before the writes are confirmed), plan, keep the
  --target changes, and note the safety refusals and stale changes (`check()` raises them).
- settle: once the writes are confirmed, the journal's in-doubt writes that only a write can
  settle (a keyed replay) are settled, after `hooks.writing` (signals then stop gracefully).
- execute: dispatch the changes (progress through `hooks.progress`), return the report, release
  the lock.

A run whose plan is fixed before anyone could look at it (a saved plan, or no review and no
--target) goes through reconciler/pipeline.py: each vendor reads, settles and writes as soon as its
own read is done, so its settling happens inside `execute`, vendor by vendor.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from reconciler.apply import apply_plan
from reconciler.apply_report import ApplyReport, ChangeResult
from reconciler.contact_policy.violations import violations
from reconciler.drift import DriftReport, build_report
from reconciler.engine import make_plan, read_live, settle_in_doubt
from reconciler.errors import ConfigError, StaleChangeError, UnsafePlanError
from reconciler.model import Address
from reconciler.pipeline import FixedPlanApply
from reconciler.plan import check_precondition
from reconciler.plan_types import Change, Plan
from reconciler.session import Session
from reconciler.snapshot import LiveSnapshot

FINGERPRINT_KEY = "drift.fingerprint"


# -- targets and safety (shared by plan and apply) ------------------------------------------------
def target_matches(address: str, glob: str) -> bool:
    """`*` any run, `?` one character; everything else literal, so `crm.card[sales]*` works
    (fnmatch would read `[sales]` as a character class)."""
    pattern = ".*".join(".".join(re.escape(part) for part in chunk.split("?")) for chunk in glob.split("*"))
    return re.fullmatch(pattern, address) is not None


def filter_targets(plan: Plan, targets: tuple[str, ...]) -> Plan:
    """Keep only changes whose address matches one of the --target globs. A glob that matches none of
    the planned changes is an error (a typo must not read as "No changes" while changes exist)."""
    if not targets:
        return plan

    def hit(address: object) -> bool:
        return any(target_matches(str(address), t) for t in targets)

    if plan.changes:
        missed = [t for t in targets if not any(target_matches(str(c.address), t) for c in plan.changes)]
        if missed:
            raise ConfigError("; ".join(f"--target {t!r} matches none of the {len(plan.changes):,} planned changes"
                                        for t in missed) + " (plan without --target lists their addresses)")
    return replace(plan, changes=[c for c in plan.changes if hit(c.address)],
                   diverged=[d for d in plan.diverged if hit(d.address)])


def refusals(plan: Plan, allow_large: bool, force: bool) -> list[tuple[str, str]]:
    """The safety limits the plan exceeds that no flag given overrides: (flag, reason)."""
    given = {"--allow-large": allow_large, "--force": force}
    return [(flag, reason) for flag, reason in plan.safety if not given.get(flag)]


def apply_has_work(plan: Plan, live: LiveSnapshot) -> bool:
    """Whether `apply` would act: an executable change, or a deferred write still in doubt (apply
    settles it). Manual, skip and plain defer items alone leave nothing to apply."""
    return any(c.executable or (c.action == "defer" and c.address in live.pending) for c in plan.changes)


# -- plan ---------------------------------------------------------------------------------------
@dataclass
class PlanResult:
    plan: Plan
    live: LiveSnapshot


def run_plan(session: Session, *, targets: tuple[str, ...] = (), refresh: bool = False,
             progress: Callable[[str], None] | None = None) -> PlanResult:
    """Read every vendor read-only (plan never writes to a vendor, not even a replay, and writes nothing to
    the state) and plan."""
    live = read_live(session, refresh=refresh, read_only=True, progress=progress)
    live.seen.clear()  # what the reads kept for the writes (rosters, cards): a plan writes nothing
    return PlanResult(filter_targets(make_plan(session, live), targets), live)


# -- drift --------------------------------------------------------------------------------------
@dataclass
class DriftResult:
    report: DriftReport
    live: LiveSnapshot
    previous: str | None  # the fingerprint the last drift run stored
    fingerprint: str | None  # this run's (None: no drift)

    @property
    def changed(self) -> bool:
        """New or different drift, or drift that cleared, since the last drift run."""
        return self.fingerprint != self.previous


def drift_now(session: Session) -> datetime:
    """When drift measures ages: the in-process sandbox's simulated time when a provider uses it (so
    `sandbox advance` ages enrollments the way it ages them in the vendor), else the session's clock."""
    simulators = getattr(session.hub, "simulators", None) if session.hub is not None else None
    if simulators:
        return datetime.fromtimestamp(next(iter(simulators.values())).clock.now(), tz=UTC)
    return session.clock.now()


def run_drift(session: Session) -> DriftResult:
    """Read every vendor (refreshing every non-final status, read-only), plan, and classify."""
    live = read_live(session, refresh=True, read_only=True)
    live.seen.clear()  # what the reads kept for the writes: drift writes nothing to a vendor
    plan = make_plan(session, live)
    ours = {row.address for row in session.store.journal() if row.operation == "archive"}
    report = build_report(plan, live, now=drift_now(session), archived_by_us=ours)
    if session.desired.project.policy.declared:  # contact policy violations found live
        report.policy = violations(session.desired, live, session.store.cache_view())
    return DriftResult(report, live, session.store.get_meta(FINGERPRINT_KEY),
                       report.fingerprint() if report.drifted else None)


def record_drift(session: Session, result: DriftResult) -> None:
    """Remember this run's fingerprint (after any notification went out: a failed one is retried)."""
    if result.changed:
        session.store.set_meta(FINGERPRINT_KEY, result.fingerprint)


# -- apply --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApplyRequest:
    """What to apply and what is allowed; the CLI's options."""

    plan: Plan | None = None  # a saved plan (`apply PLAN`), or None to plan from a fresh read
    plan_name: str = "the saved plan"  # for messages: the plan file
    targets: tuple[str, ...] = ()
    allow_large: bool = False
    force: bool = False
    partial: bool = False  # apply the changes still valid when some are stale
    review: bool = False  # the whole plan first: read and plan every vendor, then (after a review) write
    holder: str = "campaignctl apply"  # who holds the lock, for another apply's message
    lock_timeout: float = 0.0

    @property
    def fixed(self) -> bool:
        """Nobody looks at the whole plan between the read and the writes: a saved plan, or no review
        and no --target (a glob is checked against the whole plan, so that one reads every vendor
        first). Each vendor then writes as soon as its own read is done."""
        return self.plan is not None or (not self.review and not self.targets)

    def refused(self, plan: Plan) -> list[str]:
        """The safety reasons this request's flags do not override, each naming its flag."""
        return [f"{reason} (pass {flag})" for flag, reason in refusals(plan, self.allow_large, self.force)]


@dataclass
class ApplyHooks:
    """What a caller wants to hear while an apply runs (all optional; called from worker threads)."""

    reading: Callable[[str], None] | None = None  # read progress of a reviewed run
    writing: Callable[[], None] | None = None  # before the first write request (signals then stop gracefully)
    settled: Callable[[Address], None] | None = None  # an in-doubt enrollment proved to exist
    progress: Callable[[ChangeResult], None] | None = None  # every change done
    planned: Callable[[int], None] | None = None  # a fixed run: this many more executable changes
    vendor_plan: Callable[[str, Plan], None] | None = None  # a fixed run: a vendor's plan, once it may write


@dataclass
class Prepared:
    """What prepare found. `plan` is None for a fixed run that plans each vendor from its own read."""

    plan: Plan | None
    live: LiveSnapshot | None = None  # the read of a reviewed run
    todo: list[Change] = field(default_factory=list)  # executable changes (known before execute)
    stale: list[tuple[Change, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # safety reasons no flag given overrides

    @property
    def has_work(self) -> bool:
        """A confirmed run: whether anything is to be written or settled (a fixed run learns it in execute)."""
        return self.plan is not None and (self.live is None or apply_has_work(self.plan, self.live))


@dataclass
class ApplyOutcome:
    """What execute did: the per-change report (empty, and `nothing_to_apply`, when there was nothing to do)."""

    report: ApplyReport
    nothing_to_apply: bool = False
    stale: list[tuple[Change, str]] = field(default_factory=list)  # refused as stale (without --partial)
    errors: dict[str, BaseException] = field(default_factory=dict)  # a vendor's first failure
    refused: list[str] = field(default_factory=list)  # the whole plan exceeded a safety limit
    whole: Plan | None = None  # a fixed run: every vendor's plan together (shown on a refusal)

    def raise_for_failure(self) -> None:
        """Refused, a vendor failed, or changes were stale: raise it (the report holds what was done)."""
        if self.refused:
            raise UnsafePlanError(self.refused)
        if self.errors:
            raise next(self.errors[name] for name in sorted(self.errors))
        if self.stale:
            raise StaleChangeError(f"{len(self.stale)} change(s) no longer match live state; re-plan (or pass "
                                   "--partial). The other vendors' changes, which still held, were applied.")


class ApplyRun:
    """One apply in a session: `prepare()`, then (after any confirmation) `settle()` and `execute()`.
    Use it as a context manager: the lock is released on the way out, whatever happened."""

    def __init__(self, session: Session, request: ApplyRequest, hooks: ApplyHooks | None = None) -> None:
        self.session = session
        self.request = request
        self.hooks = hooks or ApplyHooks()
        self.prepared: Prepared | None = None
        self.pipeline: FixedPlanApply | None = None  # a fixed run's pipeline, once executing
        self._settled = False
        self._release = threading.RLock()

    # -- the lock -------------------------------------------------------------------------------
    def release(self) -> None:
        """Release the apply lock if this run holds it (idempotent). Re-entrant: a second SIGINT calls
        it from the signal handler, which may interrupt this very method in the main thread."""
        with self._release:
            lock_id = self.session.lock_id
            if lock_id is not None:
                self.session.store.release_lock(lock_id)
                self.session.lock_id = None

    def __enter__(self) -> ApplyRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- prepare --------------------------------------------------------------------------------
    def prepare(self) -> Prepared:
        """Lock, then check a saved plan, or read and plan (see the module docstring)."""
        session, request = self.session, self.request
        session.lock_id = session.store.acquire_lock(request.holder, timeout=request.lock_timeout)
        if request.fixed:
            self.prepared = self._prepare_fixed()
        else:
            # nothing sent before a yes; what the read found is recorded (only apply writes the state)
            live = read_live(session, read_only=True, record=True, progress=self.hooks.reading)
            plan = filter_targets(make_plan(session, live), request.targets)
            todo = [c for c in plan.changes if c.executable]
            stale = [(c, why) for c in todo if (why := check_precondition(c, live))]
            self.prepared = Prepared(plan, live, todo, stale=stale, refused=request.refused(plan))
        return self.prepared

    def _prepare_fixed(self) -> Prepared:
        saved = self.request.plan
        if saved is None:
            return Prepared(None)
        digest = self.session.desired.digest
        if saved.manifest_digest != digest:
            raise StaleChangeError(f"{self.request.plan_name}: the manifests changed since this plan was made "
                                   f"(digest {saved.manifest_digest[:19]}… vs {digest[:19]}…); re-plan")
        plan = filter_targets(saved, self.request.targets)
        refused = self.request.refused(plan)
        if refused:
            raise UnsafePlanError(refused)  # global, before anything is read or sent
        return Prepared(plan, todo=[c for c in plan.changes if c.executable])

    def check(self) -> None:
        """Raise what keeps a reviewed run from writing: a safety limit no flag overrides, or stale
        changes without --partial. settle() calls it, so it cannot be skipped."""
        prepared = self._need_prepared()
        if prepared.refused:
            raise UnsafePlanError(prepared.refused)
        if prepared.stale and not self.request.partial:
            raise StaleChangeError(f"{len(prepared.stale)} change(s) no longer match live state; "
                                   "re-plan (or pass --partial)")

    # -- settle ---------------------------------------------------------------------------------
    def settle(self) -> list[Address]:
        """The writes are confirmed: settle the in-doubt writes a read could not (a keyed replay).
        A fixed run settles vendor by vendor inside execute(); here it has nothing to do."""
        if self._settled:
            return []
        self.check()
        self._settled = True
        if self.request.fixed:
            return []
        if self.hooks.writing:
            self.hooks.writing()
        prepared = self._need_prepared()
        assert prepared.live is not None
        settled = settle_in_doubt(self.session, prepared.live)
        for addr in settled:
            if self.hooks.settled:
                self.hooks.settled(addr)
        return list(settled)

    # -- execute --------------------------------------------------------------------------------
    def execute(self) -> ApplyOutcome:
        """Dispatch every change (settling first if settle() was not called), then release the lock."""
        try:
            self.settle()
            prepared = self._need_prepared()
            if self.request.fixed:
                return self._execute_fixed(prepared)
            assert prepared.plan is not None and prepared.live is not None
            report = apply_plan(self.session, prepared.plan, prepared.live, progress=self.hooks.progress)
            return ApplyOutcome(report, nothing_to_apply=not prepared.has_work)
        finally:
            self.release()

    def _execute_fixed(self, prepared: Prepared) -> ApplyOutcome:
        hooks = self.hooks
        run = FixedPlanApply(self.session, plan=prepared.plan, allow=self.request.refused,
                             partial=self.request.partial, planned=hooks.planned, writing=hooks.writing,
                             progress=hooks.progress, vendor_plan=hooks.vendor_plan, settled=hooks.settled)
        self.pipeline = run
        result = run.run()
        outcome = ApplyOutcome(result.report, stale=list(result.stale), errors=dict(result.errors),
                               refused=list(result.refused))
        if result.refused:
            outcome.whole = run.whole()
        outcome.nothing_to_apply = not (result.errors or result.stale or result.planned or result.in_doubt)
        return outcome

    def _need_prepared(self) -> Prepared:
        if self.prepared is None:
            raise RuntimeError("ApplyRun: prepare() first")
        return self.prepared


def run_apply(session: Session, request: ApplyRequest | None = None, hooks: ApplyHooks | None = None) -> ApplyOutcome:
    """The whole apply without a person in the loop (tests, bench, scripts): prepare, settle,
    execute; raises what the CLI would report as an error (safety, stale, a vendor's failure)."""
    with ApplyRun(session, request or ApplyRequest(), hooks) as run:
        run.prepare()
        run.check()
        outcome = run.execute()
    outcome.raise_for_failure()
    return outcome
