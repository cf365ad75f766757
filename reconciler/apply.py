"""apply_plan(): execute a Plan through the providers, journaling every write (what each change did is
reported through reconciler/apply_report.py).

Guarantees:
- Every write is preceded by a durable journal intent and followed by an outcome.
- A change runs only if its precondition still holds against the live state read at apply start.
- A write whose answer is lost (OutcomeUnknown) is resolved by reading (or, where the vendor keys
  its starts, by an idempotency-keyed replay) before anything else; a confirmed-absent write is sent again at most
  once in the same run, anything still unclear is left to the next run, which resolves it first.
- Order: blueprints, then cards, then enrollments (a start may need its blueprint's id).
  Providers run in parallel, one worker each, each paced by its own rate budget.
- An enrollment the vendor creates but fails at once (a suppressed contact) was sent, so its
  journal outcome is `ok`, but the change is reported `failed` with the vendor's reason.
- Once `session.stop` is set (SIGINT/SIGTERM), no new change is dispatched: the writes in flight
  finish (or stay in doubt for the next run) and every change not started is reported `interrupted`.
- Each (kind, action) runs through its one entry of HANDLERS; a pair without one (a hand-edited
  saved plan) is reported `failed` with nothing sent.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler.apply_cards import CardWrites
from reconciler.apply_report import ApplyReport, ChangeResult, Progress
from reconciler.contact_policy.planning import dispatch_refusal
from reconciler.engine import Session, membership_identity, remember_membership
from reconciler.errors import Interrupted, OutcomeUnknown, ProviderError
from reconciler.live_merge import Identity
from reconciler.model import Address
from reconciler.plan import check_precondition
from reconciler.plan_types import Change, Plan
from reconciler.providers import vendors
from reconciler.providers.base import EnrollRequest, EnrollResult, Provider
from reconciler.sent_enrollment import sent_enrollment
from reconciler.snapshot import FAILED, LiveSnapshot
from reconciler.state import utcnow
from reconciler.vocabulary import Action, ApplyStatus, Kind, Operation, Outcome

PHASE: dict[str, int] = {Kind.BLUEPRINT: 0, Kind.CARD: 1, Kind.MEMBERSHIP: 2}



class Applier(CardWrites):
    """Runs one plan; one instance per apply (its card and blueprint writes: reconciler/apply_cards.py)."""

    def __init__(self, session: Session, live: LiveSnapshot, *, progress: Progress | None = None) -> None:
        self.session = session
        self.live = live
        self.store = session.store
        # the lock id is the apply's id: the lock's holder row and the journal name the same apply
        self.report = ApplyReport(apply_id=session.lock_id or uuid.uuid4().hex[:12], started_at=self._now())
        self._progress = progress
        self._lock = threading.Lock()
        self._failed_blueprints: set[str] = set()
        self._lives: dict[str, LiveSnapshot] = {}  # per provider, when each vendor was read on its own
        # Indexes built once: per-change scans of members and cards made large applies quadratic.
        desired = session.desired
        self._sequences = {(s.provider, s.id): s for s in desired.sequences}
        self._members = {m.address: m for s in desired.sequences for m in s.members}
        self._pipelines = {(p.provider, p.id): p for p in desired.pipelines}
        self._cards = {c.address: c for p in desired.pipelines for c in p.cards}

    def run(self, changes: list[Change]) -> ApplyReport:
        executable = [c for c in changes if c.executable]
        by_provider: dict[str, list[Change]] = {}
        for change in executable:
            by_provider.setdefault(change.provider, []).append(change)
        # Blueprints first everywhere, so a start never races its blueprint's creation.
        with ThreadPoolExecutor(max_workers=max(1, len(by_provider))) as pool:
            list(pool.map(lambda item: self._run_provider(*item), sorted(by_provider.items())))
        return self.finish()

    def run_provider(self, name: str, changes: list[Change], live: LiveSnapshot) -> None:
        """One provider's changes against that provider's own fresh read (an apply whose vendors each
        go on to their writes as soon as their own read is done); call `finish()` after the last one."""
        self._lives[name] = live
        executable = [c for c in changes if c.executable and c.provider == name]
        if executable:
            self._run_provider(name, executable)

    def _now(self) -> str:
        """Now on the session's clock: a start's send time is judged against its settle window on it."""
        return utcnow(self.session.clock)

    def finish(self) -> ApplyReport:
        self.report.finished_at = self._now()
        self.report.results.sort(key=lambda r: r.address)
        return self.report

    def _live(self, provider: str) -> LiveSnapshot:
        return self._lives.get(provider, self.live)

    def _seen(self, provider: Provider) -> Any:
        """What this provider's read saw for its writes (LiveSnapshot.seen), handed back explicitly."""
        return self._live(provider.config.name).seen.get(provider.config.name)

    def record(self, result: ChangeResult) -> None:
        """Report a change this applier did not run (held back before dispatch by its caller)."""
        self._record(result)

    def _record(self, result: ChangeResult) -> None:
        with self._lock:
            self.report.results.append(result)
        if self._progress:
            self._progress(result)

    def _run_provider(self, name: str, changes: list[Change]) -> None:
        provider = self.session.providers[name]
        # Renames first: one moves a state row off an address a later enrollment may record anew.
        ordered = sorted(changes, key=lambda c: (c.action != Action.RENAME, PHASE.get(c.address.kind, len(PHASE)),
                                                 str(c.address)))
        batch: list[Change] = []  # enrollments of one sequence, sent together (up to enroll_batch_size)
        batch_handler = _ENROLL
        live = self._live(name)
        for change in ordered:
            if self.session.stop.is_set():
                break
            stale = check_precondition(change, live)
            if stale:
                self._record(ChangeResult(str(change.address), change.action, ApplyStatus.STALE, f"{stale}; re-plan"))
                continue
            handler = HANDLERS.get((change.address.kind, change.action))
            if handler is not None and handler.batched:
                if batch and (batch_handler is not handler or batch[0].address.group != change.address.group
                              or len(batch) >= provider.capabilities.enroll_batch_size):
                    batch_handler.run(self, provider, batch)
                    batch = []
                batch_handler = handler
                batch.append(change)
                continue
            if batch:
                batch_handler.run(self, provider, batch)
                batch = []
                if self.session.stop.is_set():
                    break
            if handler is None:
                self._record(ChangeResult(str(change.address), change.action, ApplyStatus.FAILED,
                                          f"apply cannot {change.action} a {change.address.kind}: no such change is "
                                          "ever planned (was the plan file edited?); nothing was sent"))
                continue
            handler.run(self, provider, [change])
        if batch:
            batch_handler.run(self, provider, batch)
        self._record_not_started(ordered)

    def _record_not_started(self, changes: list[Change]) -> None:
        """After an interrupt: every change of this provider with no result yet was never sent."""
        if not self.session.stop.is_set():
            return
        with self._lock:
            done = {r.address for r in self.report.results}
        for change in changes:
            if str(change.address) not in done:
                self._record(ChangeResult(str(change.address), change.action, ApplyStatus.INTERRUPTED,
                                          "not started: apply was interrupted; nothing was sent"))

    # -- enrollments ----------------------------------------------------------------------------
    def _rename(self, provider: Provider, change: Change) -> None:
        """The state forgets the old address; the read that began this apply recorded the new one."""
        old = Address.parse((change.before or {})["address"])
        lm = self.live.memberships.get(change.address)
        if lm is not None:
            remember_membership(self.store, lm, identity=self._identity(change.address))
        self.store.forget(old)
        self._record(ChangeResult(str(change.address), change.action, ApplyStatus.OK, f"was {old}",
                                  lm.remote_id if lm else None))

    def _identity(self, address: Address) -> Identity:
        member = self._members[address]
        seq = self._sequences[(address.provider, member.sequence_id)]
        return membership_identity(seq, member, self.session.desired.contacts)

    def _enroll(self, provider: Provider, changes: list[Change]) -> None:
        if self.session.stop.is_set():
            return  # reported as not started
        desired = self.session.desired
        seq = self._sequences[(changes[0].provider, changes[0].address.group)]
        if vendors.spec(seq.provider_type).blueprints and seq.target in self._failed_blueprints:
            for change in changes:
                self._record(ChangeResult(str(change.address), change.action, ApplyStatus.SKIPPED,
                                          f"blueprint {seq.target!r} failed to apply; nothing sent"))
            return
        closed = dispatch_refusal(self.session, seq.id)
        if closed:  # a saved plan applied outside the sequence's send windows: nothing leaves now
            for change in changes:
                self._record(ChangeResult(str(change.address), change.action, ApplyStatus.SKIPPED,
                                          f"deferred, nothing sent: {closed}; a later apply enrolls it"))
            return
        members = self._members
        requests = [EnrollRequest(members[c.address], desired.contacts.get(members[c.address].contact_id or ""),
                                  c.attempt) for c in changes]
        # The intent records what the request carries, so a lost answer is settled against what was
        # sent, never against manifests edited since (reconciler/sent_enrollment.py).
        people = self._live(provider.config.name).people
        intents = {r.membership.address: self.store.intent(
                       self.report.apply_id, r.membership.address, Operation.ENROLL, attempt=r.attempt,
                       detail={"sequence": seq.id,
                               **sent_enrollment(seq, r.membership, desired.contacts, people).detail()})
                   for r in requests}
        try:
            results = provider.enroll(seq, requests, seen=self._seen(provider))
        except ProviderError as exc:  # a whole batch failed before any per-member answer
            results = [EnrollResult(r.membership.address, error=exc) for r in requests]
        by_address = {r.address: r for r in results}
        for change, request in zip(changes, requests, strict=True):
            address = request.membership.address
            res = by_address.get(address) or EnrollResult(
                address, error=OutcomeUnknown(provider.config.name, "POST", "enroll", None, "no result for member"))
            self._finish_enroll(provider, seq, change, request, intents[address], res)

    def _finish_enroll(self, provider: Provider, seq: Any, change: Change, request: EnrollRequest, intent: int,
                       res: EnrollResult) -> None:
        addr = str(change.address)
        if res.live is not None:
            with self.store.batch():  # one transaction: a crash must not keep the outcome without the row
                self.store.outcome(intent, Outcome.OK, remote_id=res.live.remote_id, request_id=res.request_id)
                remember_membership(self.store, res.live, identity=self._identity(change.address))
            if res.live.status == FAILED:  # created, but the vendor failed it at once (e.g. suppressed contact)
                why = res.live.reason or res.live.vendor_status
                self._record(ChangeResult(addr, change.action, ApplyStatus.FAILED,
                                          f"the vendor failed the enrollment at once: {why}",
                                          res.live.remote_id, res.request_id))
                return
            self._record(ChangeResult(addr, change.action, ApplyStatus.OK, res.live.vendor_status, res.live.remote_id,
                                      res.request_id))
            return
        error = res.error
        if isinstance(error, Interrupted):  # stopped before its request left: nothing was sent
            self.store.outcome(intent, Outcome.ERROR, detail={"error": str(error)})
            self._record(ChangeResult(addr, change.action, ApplyStatus.INTERRUPTED, "not sent: apply was interrupted"))
            return
        if isinstance(error, OutcomeUnknown):
            self.store.outcome(intent, Outcome.UNKNOWN, detail={"error": str(error)})
            self._resolve_enroll(provider, seq, change, request, intent)
            return
        request_id = getattr(error, "request_id", None)
        self.store.outcome(intent, Outcome.ERROR, request_id=request_id, detail={"error": str(error)})
        self._record(ChangeResult(addr, change.action, ApplyStatus.FAILED, str(error), request_id=request_id))

    def _resolve_enroll(self, provider: Provider, seq: Any, change: Change, request: EnrollRequest,
                        intent: int) -> None:
        """The answer was lost: read what happened; never send blind."""
        addr = str(change.address)
        try:
            found = provider.resolve_enrollment(seq, request, sent_at=self._now(), seen=self._seen(provider))
        except ProviderError as exc:
            self._record(ChangeResult(addr, change.action, ApplyStatus.UNKNOWN,
                                      f"outcome unknown ({exc}); the next run resolves it by reading before anything "
                                      "is sent"))
            return
        if found is not None:
            with self.store.batch():
                self.store.outcome(intent, Outcome.RESOLVED_PRESENT, remote_id=found.remote_id)
                remember_membership(self.store, found, identity=self._identity(change.address))
            status = ApplyStatus.FAILED if found.status == FAILED else ApplyStatus.OK
            what = f"failed: {found.reason or found.vendor_status}" if status == ApplyStatus.FAILED \
                else found.vendor_status
            self._record(ChangeResult(addr, change.action, status, f"{what} (confirmed by reading after a lost answer)",
                                      found.remote_id))
            return
        self.store.outcome(intent, Outcome.RESOLVED_ABSENT)
        self._record(ChangeResult(addr, change.action, ApplyStatus.FAILED,
                                  "the request was lost before the vendor acted (confirmed by reading); nothing was "
                                  "sent, the next apply enrolls this member"))

    def _stop(self, provider: Provider, change: Change) -> None:
        """Stop an enrollment the manifests no longer declare, where the vendor's API can."""
        addr = change.address
        if not provider.capabilities.can_stop_membership:
            self._record(ChangeResult(str(addr), change.action, ApplyStatus.FAILED,
                                      f"the {addr.provider} API cannot stop an enrollment: stop it in the vendor's "
                                      "UI; nothing was sent"))
            return
        lm = self._live(change.provider).memberships.get(addr)
        if lm is None:  # a saved change without its precondition (the planner always gives one)
            self._record(ChangeResult(str(addr), change.action, ApplyStatus.STALE, "no such enrollment now; re-plan"))
            return

        def stop() -> str | None:
            stopped = provider.stop_membership(lm)
            kept = self.store.cache_view().get(addr)  # an undeclared member: its row keeps who it was
            identity = Identity(kept.person, kept.target) if kept and kept.person is not None and kept.target \
                else None
            remember_membership(self.store, stopped, identity=identity)
            return stopped.remote_id

        self._write(change, Operation.STOP, stop, lambda intent: None)



@dataclass(frozen=True)
class Handler:
    """How apply executes the changes of one (kind, action): `run(applier, provider, changes)`. When
    `batched`, consecutive changes of one group go in one call, up to the provider's enroll_batch_size
    (some vendors start up to 100 people per request); otherwise one change per call."""

    run: Callable[[Applier, Provider, list[Change]], None]
    batched: bool = False


def _each(one: Callable[[Applier, Provider, Change], None]) -> Callable[[Applier, Provider, list[Change]], None]:
    def run(applier: Applier, provider: Provider, changes: list[Change]) -> None:
        for change in changes:
            one(applier, provider, change)
    return run


_ENROLL = Handler(Applier._enroll, batched=True)
_CARD = Handler(_each(Applier._write_card))
_BLUEPRINT = Handler(_each(Applier._write_blueprint))
# The one dispatch table: every executable (kind, action) the planner produces (plan.PLANNED) has one.
HANDLERS: dict[tuple[str, Action], Handler] = {
    (Kind.MEMBERSHIP, Action.ENROLL): _ENROLL,
    (Kind.MEMBERSHIP, Action.RETRY): _ENROLL,
    (Kind.MEMBERSHIP, Action.RENAME): Handler(_each(Applier._rename)),
    (Kind.MEMBERSHIP, Action.STOP): Handler(_each(Applier._stop)),
    **{(Kind.CARD, action): _CARD for action in (Action.CREATE, Action.UPDATE, Action.MOVE, Action.ARCHIVE,
                                                 Action.UNARCHIVE, Action.DELETE, Action.ADOPT)},
    (Kind.BLUEPRINT, Action.CREATE): _BLUEPRINT,
    (Kind.BLUEPRINT, Action.UPDATE): _BLUEPRINT,
}


def apply_plan(session: Session, plan: Plan, live: LiveSnapshot, *,
               progress: Progress | None = None) -> ApplyReport:
    """Execute every executable change of `plan` whose precondition holds against `live`."""
    return Applier(session, live, progress=progress).run(plan.changes)


__all__ = ["HANDLERS", "Handler", "apply_plan"]
