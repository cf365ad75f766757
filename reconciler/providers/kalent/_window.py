"""Kalent's dispatch window: when "no sequence" proves that a candidate may be started.

A start becomes visible on the status endpoint only after Kalent dispatched it, so "no sequence"
read now is not proof that nobody started the candidate a moment ago: this run before a crash,
this state under another address (a renamed contact or sequence, a member moved between lists),
another checkout with its own state file, or a run whose state was lost. The rules:

- A start recorded in this state for the same candidate (any address) within the settle window is
  in flight: wait. One recorded earlier that Kalent no longer shows is unproven: `manual`.
- Otherwise absence is proven only across the window: the first read that finds no sequence is
  recorded (an `unseen` row of that candidate id, `since` = that read), and the candidate is started
  only by a run that finds it still absent at least `start_settle_minutes` later. A start by anyone
  before the first read has had the whole window to show by the second.
- `start_settle_minutes: 0` trusts a single read (for a project with one checkout and one state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain

from reconciler.model import Address
from reconciler.read_input import ReadInput
from reconciler.snapshot import STATUSES, UNSEEN
from reconciler.state_record import StateRecord
from reconciler.timeutil import age_seconds, parse_time


@dataclass(frozen=True)
class Verdict:
    """What a read of "no sequence" allows: start (proven), wait (defer with `reason`) or a person decides."""

    action: str  # "start" | "wait" | "manual"
    reason: str = ""
    first_seen: str | None = None  # the first read that found no sequence (recorded while waiting)


def _hhmm(iso: str | None, plus: float = 0.0) -> str:
    if not iso:
        return "?"
    when = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) + timedelta(seconds=plus)
    return when.strftime("%Y-%m-%d %H:%M UTC")


class CandidateRows:
    """The membership rows one state holds per candidate, to ask `same_candidate` of many members:
    indexed in one pass over the cache at the first question (a scan of the whole cache per absent
    candidate made 500 absent candidates x 250,000 rows most of a warm 100k plan)."""

    def __init__(self, given: ReadInput) -> None:
        self._given = given
        self._rows: dict[str, list[tuple[Address, StateRecord]]] | None = None

    def same_candidate(self, address: Address, candidate: str) -> list[tuple[Address, StateRecord]]:
        """Membership rows this state holds for the same candidate under other addresses."""
        if self._rows is None:
            self._rows = {}
            for a, e in chain(self._given.standing.items(), self._given.to_read.items()):
                if e.status in STATUSES and e.contact is not None:
                    self._rows.setdefault(e.contact, []).append((a, e))
        return sorted(((a, e) for a, e in self._rows.get(candidate, ()) if a != address), key=lambda ae: str(ae[0]))


def judge_absence(address: Address, candidate: str, watch: StateRecord | None,
                  others: list[tuple[Address, StateRecord]], *, settle_seconds: float, now: str) -> Verdict:
    """The verdict on a candidate read as having no sequence (see the module docstring)."""
    minutes = settle_seconds / 60
    at = parse_time(now)  # the session's clock: every age below is measured at this instant
    for other, entry in others:
        since = entry.since
        age = age_seconds(since, at)
        if age is not None and age < settle_seconds:
            return Verdict("wait", f"candidate {candidate} was started at {_hhmm(since)} under {other} (this state); "
                                   f"Kalent may still be dispatching it, so nothing is started before "
                                   f"{_hhmm(since, settle_seconds)} (start_settle_minutes: {minutes:g})")
        return Verdict("manual", f"this state recorded candidate {candidate} as {entry.vendor_status or entry.status} "
                                 f"under {other}, but Kalent shows no sequence for it: check it in Kalent; "
                                 "nothing is started while the state remembers it")
    if settle_seconds <= 0:
        return Verdict("start")
    # The first absent read of THIS candidate: a row recorded for another candidate id (the member's id
    # was corrected since) proves nothing about this one, which has never had its window.
    first = watch.since if watch is not None and watch.status == UNSEEN and watch.contact == candidate else None
    age = age_seconds(first, at)
    if first is not None and age is not None and age >= settle_seconds:
        return Verdict("start")
    first = first or now
    return Verdict("wait", f"Kalent starts asynchronously: no sequence for candidate {candidate} since "
                           f"{_hhmm(first)}; started from {_hhmm(first, settle_seconds)} if still absent "
                           f"(start_settle_minutes: {minutes:g}), so another run's start has time to show",
                   first_seen=first)
