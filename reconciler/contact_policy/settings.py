"""The contact policy a project declares (`policy:` in campaignctl.yaml), resolved and validated.

Frozen dataclasses that know no YAML: the planner pass (enforce.py), the forecast, apply's send
window check and drift's violations read only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Suppression:
    """One person never to contact: an identifier (`email:…`, `phone:…`) or a whole email domain
    (`domain:…`), and where it was declared (file:line) for the plan's reason."""

    key: str
    source: str


@dataclass(frozen=True, slots=True)
class ExclusiveGroup:
    """Sequences (by id) among which a person has at most one active enrollment; `sequences` empty
    means every sequence."""

    name: str
    sequences: frozenset[str] = frozenset()

    def holds(self, sequence_id: str) -> bool:
        return not self.sequences or sequence_id in self.sequences


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Some days of the week and a span of local hours in one time zone."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None: midnight at the end of the day (24:00)
    timezone: str
    sequences: frozenset[str] = frozenset()  # empty: every sequence no window names

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone())
        if local.weekday() not in self.days:
            return False
        t = local.time().replace(tzinfo=None)
        return self.start <= t and (self.end is None or t < self.end)

    def next_open(self, now: datetime) -> datetime:
        """The first instant at or after `now` inside this window (within the next 8 days)."""
        zone = self.zone()
        local = now.astimezone(zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, tzinfo=zone)
            closes = (datetime.combine(day, self.end, tzinfo=zone) if self.end is not None
                      else datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone))
            if local < opens:
                return opens
            if local < closes:
                return local
        raise AssertionError("a window with at least one day opens within a week")

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        end = self.end.strftime("%H:%M") if self.end is not None else "24:00"
        return f"{days} {self.start.strftime('%H:%M')}-{end} {self.timezone}"


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """Everything `policy:` says. An absent section is `ContactPolicy()`: nothing enforced, except
    that every plan still carries its volume forecast."""

    declared: bool = False
    suppressions: tuple[Suppression, ...] = ()
    vendor_opt_outs: bool = False
    exclusive: tuple[ExclusiveGroup, ...] = ()
    cooldown_days: int = 0
    send_windows: tuple[SendWindow, ...] = ()
    digest: str = ""  # of the suppression CSV files (part of the manifest digest)
    suppressed_keys: frozenset[str] = field(default=frozenset(), compare=False)

    def windows_for(self, sequence_id: str) -> tuple[SendWindow, ...]:
        """The windows that govern a sequence: those naming it, else those naming no sequence."""
        named = tuple(w for w in self.send_windows if sequence_id in w.sequences)
        return named or tuple(w for w in self.send_windows if not w.sequences)

    def group_of(self, sequence_id: str) -> ExclusiveGroup | None:
        return next((g for g in self.exclusive if g.holds(sequence_id)), None)

    @property
    def cross_vendor(self) -> bool:
        """Whether a decision about one vendor's enrollment needs what the other vendors hold."""
        return bool(self.vendor_opt_outs or self.exclusive or self.cooldown_days)
