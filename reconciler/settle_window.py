"""The settle window of asynchronous starts: when a read of "none" proves that a person may be started.

A vendor whose spec declares `async_starts` shows a start on its status read only once it dispatched
it, so "none" read now is not proof that nobody started the person a moment ago: this run before a
crash, this state under another address (a renamed contact or sequence, a member moved between
lists), another checkout with its own state file, or a run whose state was lost. Its adapter reports
only the fact (`LiveSnapshot.absent`: this person, none, read at this time); the core's merge judges
it here, on the state's records and the provider's window:

- A start recorded in this state for the same person (any address) within the settle window is
  in flight: wait. One recorded earlier that the vendor no longer shows is unproven: `manual`. A
  start the journal records at the address within the window is in flight too, even when its row
  was never written (a state written by an earlier version, whose crash fell between the two).
- Otherwise absence is proven only across the window: the first read that finds none is recorded
  (an `unseen` row of that person's id, `since` = that read), and the person is started only by a
  run that finds them still absent at least the window later. A start by anyone before the first
  read has had the whole window to show by the second.
- A window of 0 trusts a single read (for a project with one checkout and one state).

What the vendor read at an address where this state recorded a start of its own (active or paused) is
judged first (`judge_shown`), on the facts the adapter reports (`LiveSnapshot.shown`, `absent`,
`unknown`):

- Within the window after that start, "none", an earlier enrollment or a final one whose id the state
  never saw is the previous attempt (a retry or re-enrollment), not ours: the remembered start stands
  (reading it as ours would plan the same retry again; at worst a start that failed at once shows as
  active for a few minutes).
- Past the window, a final enrollment that began well before our start means the vendor accepted the
  start but never showed it: unproven (`manual`), since starting again could send twice. The vendor's
  start time is on its own clock: "well before" allows half the window (`leeway`), and a running
  enrollment is never the attempt before ours (that one had ended, or we would not have retried).
- A vendor that does not know the person (a 404) keeps the last status this state recorded there; with
  nothing recorded, the 404 proves nothing about an enrollment: unproven.

Nothing here writes: apply records the `unseen` rows with the rest of its read (read_record.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from reconciler.model import Address, ProviderConfig
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, STATUSES, UNSEEN, LiveSnapshot, Shown
from reconciler.state_record import StateRecord
from reconciler.timeutil import age_seconds, parse_time
from reconciler.vocabulary import Kind

if TYPE_CHECKING:  # providers/base.py merges a read through this module: it imports no provider module
    from reconciler.providers.spec import AsyncStarts
    from reconciler.state import Store

__all__ = ["SettleWindow", "Verdict", "began_before", "earlier_attempt", "journal_starts", "judge_absence",
           "judge_absences", "judge_reads", "judge_shown", "leeway", "settle_windows"]


@dataclass(frozen=True)
class SettleWindow:
    """One provider's window: how long a read of "none" proves nothing, and how its vendor says things."""

    seconds: float
    starts: AsyncStarts  # how messages name the setting, the person and the vendor's "none"
    title: str  # the vendor, in messages


@dataclass(frozen=True)
class Verdict:
    """What a read of "none" allows: start (proven), wait (defer with `reason`) or a person decides."""

    action: str  # "start" | "wait" | "manual"
    reason: str = ""
    first_seen: str | None = None  # the first read that found none (recorded while waiting)


def settle_windows(configs: Mapping[str, ProviderConfig]) -> dict[str, SettleWindow]:
    """The window of every provider (name -> config) whose vendor starts asynchronously."""
    from reconciler.providers import vendors  # on demand: the registry's package imports providers/base.py

    windows = {}
    for name, config in configs.items():
        spec = vendors.spec(config.type)
        if spec.async_starts is not None:
            windows[name] = SettleWindow(spec.async_starts.minutes(config) * 60, spec.async_starts, spec.title)
    return windows


def _hhmm(iso: str | None, plus: float = 0.0) -> str:
    if not iso:
        return "?"
    when = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) + timedelta(seconds=plus)
    return when.strftime("%Y-%m-%d %H:%M UTC")


class PersonRows:
    """The membership rows one state holds per person (the vendor's id), to ask `same_person` of many
    members: indexed in one pass over the state at the first question (a scan of the whole state per
    absent person made 500 absent people x 250,000 rows most of a warm 100k plan)."""

    def __init__(self, known: Mapping[Address, StateRecord], provider: str) -> None:
        self._known = known
        self._provider = provider
        self._rows: dict[str, list[tuple[Address, StateRecord]]] | None = None

    def same_person(self, address: Address, person: str) -> list[tuple[Address, StateRecord]]:
        """Membership rows this state holds for the same person under other addresses."""
        if self._rows is None:
            self._rows = {}
            for a, e in self._known.items():
                if a.provider == self._provider and a.kind == Kind.MEMBERSHIP and e.status in STATUSES \
                        and e.contact is not None:
                    self._rows.setdefault(e.contact, []).append((a, e))
        return sorted(((a, e) for a, e in self._rows.get(person, ()) if a != address), key=lambda ae: str(ae[0]))


def judge_absence(person: str, watch: StateRecord | None, others: list[tuple[Address, StateRecord]], *,
                  window: SettleWindow, now: str) -> Verdict:
    """The verdict on a person read as having no enrollment (see the module docstring)."""
    settle_seconds, words = window.seconds, window.starts
    minutes = settle_seconds / 60
    at = parse_time(now)  # the time of the read: every age below is measured at this instant
    for other, entry in others:
        since = entry.since
        age = age_seconds(since, at)
        if age is not None and age < settle_seconds:
            return Verdict("wait", f"{words.person} {person} was started at {_hhmm(since)} under {other} "
                                   f"(this state); {window.title} may still be dispatching it, so nothing is started "
                                   f"before {_hhmm(since, settle_seconds)} ({words.setting}: {minutes:g})")
        status = entry.vendor_status or entry.status
        return Verdict("manual", f"this state recorded {words.person} {person} as {status} "
                                 f"under {other}, but {window.title} shows {words.none} for it: check it in "
                                 f"{window.title}; nothing is started while the state remembers it")
    if settle_seconds <= 0:
        return Verdict("start")
    # The first absent read of THIS person: a row recorded for another id (the member's id was
    # corrected since) proves nothing about this one, which has never had its window.
    first = watch.since if watch is not None and watch.status == UNSEEN and watch.contact == person else None
    age = age_seconds(first, at)
    if first is not None and age is not None and age >= settle_seconds:
        return Verdict("start")
    first = first or now
    return Verdict("wait", f"{window.title} starts asynchronously: {words.none} for {words.person} {person} since "
                           f"{_hhmm(first)}; started from {_hhmm(first, settle_seconds)} if still absent "
                           f"({words.setting}: {minutes:g}), so another run's start has time to show",
                   first_seen=first)


def _journal_start(address: Address, started: Mapping[str, str], window: SettleWindow, now: str) -> str | None:
    """Why a "none" at an address with no start in its row proves nothing: the journal records a start
    there within the window (a crash between its outcome and its row, in a state an earlier version
    wrote in two transactions). None when it records none."""
    at = started.get(str(address))
    age = age_seconds(at, parse_time(now))
    if at is None or age is None or age >= window.seconds:
        return None
    return (f"the journal records a start of {address} at {_hhmm(at)} that its state row does not hold; "
            f"{window.title} may still be dispatching it, so nothing is started before "
            f"{_hhmm(at, window.seconds)} ({window.starts.setting}: {window.seconds / 60:g})")


def judge_absences(known: Mapping[Address, StateRecord], live: LiveSnapshot,
                   windows: Mapping[str, SettleWindow], started: Mapping[str, str] | None = None) -> None:
    """Judge every "none" a provider with asynchronous starts read (`live.absent`): wait (`settling`,
    and `absent_seen` for the first absent read apply records), `manual` (`unproven`), or start (nothing
    to note: the member is absent). An enrollment the state recorded at the address itself is left to
    `live_merge.known_now_absent` (unproven, never absent). `started`: the journal's recent starts
    (address -> time, `Store.starts_since`), counted as in flight within the window."""
    rows: dict[str, PersonRows] = {}
    for address, absence in live.absent.items():
        window = windows.get(address.provider)
        if window is None:
            continue  # a vendor that starts synchronously: its "none" is proof
        record = known.get(address)
        if record is not None and record.status != UNSEEN:
            continue
        journal = _journal_start(address, started or {}, window, absence.read_at)
        if journal is not None:
            live.settling[address] = journal
            continue
        others = rows.setdefault(address.provider, PersonRows(known, address.provider)).same_person(
            address, absence.person)
        verdict = judge_absence(absence.person, record, others, window=window, now=absence.read_at)
        if verdict.action == "wait":
            live.settling[address] = verdict.reason
            if verdict.first_seen:
                live.absent_seen[address] = (absence.person, verdict.first_seen)
        elif verdict.action == "manual":
            live.unproven[address] = verdict.reason


def judge_reads(known: Mapping[Address, StateRecord], live: LiveSnapshot,
                windows: Mapping[str, SettleWindow], started: Mapping[str, str] | None = None) -> None:
    """The merge's part of every read of a vendor with asynchronous starts, right after the providers'
    snapshots are merged: what it read where this state recorded a start (`judge_shown`), then every
    read of "none" (`judge_absences`, with the journal's recent starts `started`)."""
    judge_shown(known, live, windows)
    judge_absences(known, live, windows, started)


def journal_starts(store: Store, windows: Mapping[str, SettleWindow]) -> dict[str, str]:
    """The journal's starts within the longest window (none to read when no vendor has one)."""
    longest = max((w.seconds for w in windows.values()), default=0.0)
    if longest <= 0:
        return {}
    return store.starts_since(store.clock.now() - timedelta(seconds=longest))


def leeway(settle_seconds: float) -> float:
    """How far apart the vendor's clock and ours may be for `began_before`: half the settle window (a
    minute at least). An attempt is retried only after the window past its start (within it, its
    failure is not believed: `_in_flight`), so the attempt before began at least a window earlier."""
    return max(60.0, settle_seconds / 2)


def began_before(started_at: str | None, sent_at: str | None, now: datetime, slack: float) -> bool:
    """An enrollment that began more than `slack` seconds before a start we sent is an earlier attempt,
    not the one we sent. It compares the vendor's clock with ours: only for a final enrollment whose id
    cannot decide (see `earlier_attempt`)."""
    started, sent = age_seconds(started_at, now), age_seconds(sent_at, now)
    return started is not None and sent is not None and started > sent + slack


def earlier_attempt(shown_id: str | None, status: str, previous: str | None, started_at: str | None,
                    sent_at: str | None, now: datetime, slack: float) -> bool:
    """Whether the enrollment a vendor shows after a start we sent is the attempt before it (`previous`:
    its id as the plan read it, None when unknown), not ours. The id decides when both are known: the
    previous one is earlier, any other is not. A running enrollment is never the earlier attempt (a
    start is retried or re-enrolled only after the one before ended), whatever the two clocks say.
    Only a final enrollment of unknown relation is judged by time (`began_before`)."""
    if shown_id is not None and previous is not None:
        return shown_id == previous
    return status in (FINISHED, FAILED) and began_before(started_at, sent_at, now, slack)


def _ours(record: StateRecord | None) -> StateRecord | None:
    """The enrollment this state recorded at an address the adapter read (`unseen` rows are not one)."""
    return record if record is not None and record.status != UNSEEN else None


def _other_than(record: StateRecord, shown: Shown) -> bool:
    """The vendor shows an enrollment that is not the one the state recorded there, by id."""
    return record.remote_id is None or shown.remote_id != record.remote_id


def _in_flight(record: StateRecord, shown: Shown | None, seconds: float, now: datetime) -> bool:
    """The state's own start (active or paused) is so recent that the vendor's answer (`shown`, None for
    "none") cannot be about it yet: "none", an enrollment of another id that is final or began well
    before ours is the previous attempt."""
    if record.status not in (ACTIVE, PAUSED):
        return False
    age = age_seconds(record.since, now)
    if age is None or age >= seconds:
        return False
    if shown is None:
        return True
    return _other_than(record, shown) and (shown.status in (FINISHED, FAILED)
                                           or began_before(shown.started_at, record.since, now, 60.0))


def _never_showed(record: StateRecord, shown: Shown, now: datetime, seconds: float) -> bool:
    """Past the window: the state recorded a start of ours (active or paused, with its time) that the
    vendor does not show, its latest enrollment being a final one that began well before that start (a
    running one is ours, or someone's start: never an ended earlier attempt, whatever the clocks say)."""
    return record.status in (ACTIVE, PAUSED) and _other_than(record, shown) \
        and shown.status in (FINISHED, FAILED) and began_before(shown.started_at, record.since, now, leeway(seconds))


def judge_shown(known: Mapping[Address, StateRecord], live: LiveSnapshot,
                windows: Mapping[str, SettleWindow]) -> None:
    """Compare what a vendor with asynchronous starts read (`live.shown`, `live.absent`, `live.unknown`)
    with the enrollment this state recorded at the same address (see the module docstring): the
    remembered start stands (`memberships`), or the read is unproven (`unproven`), or a 404 keeps the last
    known status (with a warning). The vendor numbers no attempts: an enrollment it showed keeps the
    attempt the state recorded."""
    for address, shown in live.shown.items():
        window, record = windows.get(address.provider), _ours(known.get(address))
        if window is None or record is None:
            continue
        now = parse_time(shown.read_at)
        assert now is not None, shown  # the adapter's own stamp
        if _in_flight(record, shown, window.seconds, now):
            live.memberships[address] = record.membership(address)
        elif _never_showed(record, shown, now, window.seconds):
            live.memberships.pop(address, None)
            since = str(record.since)[:16].replace("T", " ")
            live.unproven[address] = (
                f"{window.title} accepted a start for {window.starts.person} {shown.person} at {since} UTC, but "
                f"still shows only the earlier sequence {shown.remote_id} ({shown.said}): check it in "
                f"{window.title}; nothing is started again while the state remembers that start")
        else:
            lm = live.memberships.get(address)
            if lm is not None and lm.observed_at is not None and lm.attempt != record.attempt:
                live.memberships[address] = dataclasses.replace(lm, attempt=record.attempt)
    for address, absence in live.absent.items():
        window, record = windows.get(address.provider), _ours(known.get(address))
        if window is not None and record is not None:
            now = parse_time(absence.read_at)
            assert now is not None, absence
            if _in_flight(record, None, window.seconds, now):
                live.memberships[address] = record.membership(address)
    for address, unknown in live.unknown.items():
        window = windows.get(address.provider)
        title, person = (window.title, window.starts.person) if window is not None else (address.provider, "person")
        record = _ours(known.get(address))
        if record is not None:  # we started it: calling it absent would plan a second start
            live.warnings.append(f"{address}: {title} does not know {person} {unknown.person} ({unknown.said}); "
                                 f"kept its last known status {record.vendor_status or record.status!r}")
            live.memberships[address] = record.membership(address)
        else:  # a 404 proves nothing about an enrollment
            live.unproven[address] = (
                f"{title} answered 404 for {person} {unknown.person}'s sequence status ({unknown.said}); that "
                f"does not prove it has none, so nothing is started: check the {person} id in {title}")
