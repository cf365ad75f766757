"""The contact policy pass over a computed plan: which planned enrollments may send now.

compute_plan decides what each membership needs on its own; this pass looks at the person across
every vendor and turns an `enroll` / `retry` into
  skip   suppressed: listed in `policy.suppress`, or reported unsubscribed / bounced /
         do-not-contact by any vendor (`vendor_opt_outs`)
  defer  cooldown_days: an enrollment of theirs ended too recently (in any vendor)
  defer  exclusive: they are in an active enrollment of the same group, or this plan enrolls them
         in one first (address order)
  defer  outside every send window of the sequence; the reason says when the next one opens
Card, blueprint and every other change pass untouched (a card move is not a send). Pure: the
caller passes the clock's `now`. Every decision is also listed in `plan.policy` (docs/plan-json.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.contact_policy.people import Enrollment, People
from reconciler.contact_policy.settings import ContactPolicy
from reconciler.model import Address, DesiredState
from reconciler.plan_types import Change, Plan
from reconciler.snapshot import LiveSnapshot
from reconciler.state_record import StateRecord
from reconciler.timeutil import parse_time
from reconciler.vocabulary import Action

SENDS = ("enroll", "retry")


@dataclass(frozen=True, slots=True)
class Decision:
    """Why the policy held one planned enrollment back (the JSON shape of docs/plan-json.md)."""

    address: Address
    rule: str  # suppress | vendor_opt_out | cooldown | exclusive | send_window
    action: str  # skip | defer
    reason: str
    source: str | None = None  # where the rule's fact comes from: file:line, an address, a window
    until: str | None = None  # ISO UTC time from which it may be enrolled (defer), when known

    def to_dict(self) -> dict[str, Any]:
        return {"address": str(self.address), "rule": self.rule, "action": self.action, "reason": self.reason,
                "source": self.source, "until": self.until}


def iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(stamp: str | None) -> str:
    when = parse_time(stamp)
    return when.strftime("%Y-%m-%d") if when else "an unknown date"


def enforce(plan: Plan, desired: DesiredState, live: LiveSnapshot, ledger: Mapping[Address, StateRecord],
            now: datetime) -> list[Decision]:
    """Apply the policy to `plan` in place (its changes); returns the decisions, in address order."""
    policy = desired.project.policy
    if not policy.declared:
        return []
    people = People(desired, live, ledger)
    taken: dict[tuple[str, str], Address] = {}  # (exclusive group, person) -> enrolled first by this plan
    decisions: list[Decision] = []
    out: list[Change] = []
    for change in plan.changes:
        if change.action not in SENDS or change.address.kind != "membership":
            out.append(change)
            continue
        person = people.key(change.address)
        decision = _decide(policy, people, person, change.address, taken, now)
        if decision is None:
            group = policy.group_of(change.address.group)
            if group is not None:
                taken.setdefault((group.name, person), change.address)
            out.append(change)
            continue
        decisions.append(decision)
        out.append(replace(change, action=Action(decision.action), irreversible=False, after=None, precondition={},
                           reason=decision.reason, loud=False))
    plan.changes = out
    return decisions


def _decide(policy: ContactPolicy, people: People, person: str, address: Address,
            taken: dict[tuple[str, str], Address], now: datetime) -> Decision | None:
    """The first rule that holds this enrollment back, in order: suppression (skip), then cool-down,
    one outreach at a time and send windows (defer)."""
    found = _suppressed(policy, people.identifiers(person), address)
    if found is None and policy.vendor_opt_outs:
        found = _opted_out(people.of(person), address)
    if found is None and policy.cooldown_days:
        found = _cooling(policy.cooldown_days, people.of(person), address, now)
    if found is None and policy.exclusive:
        found = _exclusive(policy, people.of(person), person, address, taken)
    if found is None and policy.send_windows:
        found = _window(policy, address, now)
    return found


def _suppressed(policy: ContactPolicy, identifiers: tuple[str, ...], address: Address) -> Decision | None:
    keys = set(identifiers) | {f"domain:{i.split('@', 1)[1]}" for i in identifiers if i.startswith("email:")}
    for entry in policy.suppressions:
        if entry.key in keys:
            kind, _, value = entry.key.partition(":")
            return Decision(address, "suppress", "skip", f"suppressed: {kind} {value!r} is listed in {entry.source} "
                                                         "(policy.suppress)", entry.source)
    return None


def _opted_out(enrollments: list[Enrollment], address: Address) -> Decision | None:
    for e in enrollments:
        if e.opt_out:
            word = e.opt_out.replace("_", "-") if e.opt_out == "do_not_contact" else e.opt_out
            when = e.ended or e.since
            return Decision(address, "vendor_opt_out", "skip",
                            f"suppressed: {word} in {e.where} on {day(when)} (policy.vendor_opt_outs)",
                            str(e.address))
    return None


def _cooling(days: int, enrollments: list[Enrollment], address: Address, now: datetime) -> Decision | None:
    latest: tuple[datetime, Enrollment] | None = None
    for e in enrollments:
        ended = parse_time(e.ended)
        if ended is not None and (latest is None or ended > latest[0]):
            latest = (ended, e)
    if latest is None or latest[0] + timedelta(days=days) <= now:
        return None
    ended, e = latest
    until = ended + timedelta(days=days)
    return Decision(address, "cooldown", "defer",
                    f"cooldown_days {days}: an enrollment in {e.where} ended {day(e.ended)}; enrolled by an apply "
                    f"from {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC", str(e.address), iso_utc(until))


def _exclusive(policy: ContactPolicy, enrollments: list[Enrollment], person: str, address: Address,
               taken: dict[tuple[str, str], Address]) -> Decision | None:
    group = policy.group_of(address.group)
    if group is None:
        return None
    label = f"exclusive ({group.name})"
    for e in enrollments:
        if e.address != address and e.ongoing and group.holds(e.address.group):
            state = "in doubt" if e.in_doubt else f"{e.status} since {day(e.since)}"
            return Decision(address, "exclusive", "defer",
                            f"{label}: already in {e.where} ({state}); enrolled by a later apply once that ends",
                            str(e.address))
    first = taken.get((group.name, person))
    if first is not None:
        return Decision(address, "exclusive", "defer",
                        f"{label}: this plan enrolls them in {first.provider}/{first.group} first; enrolled by a "
                        "later apply once that ends", str(first))
    return None


def _window(policy: ContactPolicy, address: Address, now: datetime) -> Decision | None:
    why = window_refusal(policy, address.group, now)
    if why is None:
        return None
    reason, source, opens = why
    return Decision(address, "send_window", "defer", reason, source, iso_utc(opens))


def window_refusal(policy: ContactPolicy, sequence_id: str, now: datetime) -> tuple[str, str, datetime] | None:
    """(reason, windows, next opening) when `now` is outside every send window of the sequence;
    None when it is inside one (or the sequence has none)."""
    windows = policy.windows_for(sequence_id)
    if not windows or any(w.is_open(now) for w in windows):
        return None
    opens, first = min(((w.next_open(now), w) for w in windows), key=lambda pair: pair[0])
    shown = "; ".join(w.describe() for w in windows)
    local = opens.astimezone(first.zone())
    return ((f"outside the send windows ({shown}); the next opens {local:%Y-%m-%d %H:%M} {first.timezone} "
            f"({opens.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"), shown, opens)
