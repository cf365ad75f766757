"""Timestamps as campaignctl stores them (ISO 8601 UTC with microseconds and a Z), and the clock.

Every decision by wall time (the settle window of asynchronous starts, cache staleness, the sends of
the last 24 h, a plan's created_at, drift ages) reads it from one `Clock`, the session's: `SystemClock` in use,
`SteppedClock` in tests, which move time forward instead of sleeping. Monotonic timers (rate
pacing, timeouts) are not wall time and stay on `time.monotonic`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock(Protocol):
    """Where wall time comes from."""

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SteppedClock:
    """A clock that stands still until told to move (tests): `advance(660)` is eleven minutes later."""

    def __init__(self, start: datetime | str | None = None) -> None:
        at = parse_time(start) if isinstance(start, str) else start
        self._now = at if at is not None else datetime.now(UTC)
        if self._now.tzinfo is None:
            self._now = self._now.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


SYSTEM_CLOCK = SystemClock()


def stamp(when: datetime) -> str:
    """An aware datetime in the state store's format."""
    return when.astimezone(UTC).strftime(FORMAT)


def utcnow(clock: Clock | None = None) -> str:
    """Now (on `clock`, the system clock by default), in the state store's format."""
    return stamp((clock or SYSTEM_CLOCK).now())


def parse_time(stamp: str | None) -> datetime | None:
    """An ISO 8601 time (Z or offset; naive means UTC) as an aware datetime; None if absent or unparsable."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def age_seconds(stamp: str | None, now: datetime | None = None) -> float | None:
    """Seconds since `stamp` (until `now`, the system clock's by default); None when there is no
    (parsable) time."""
    when = parse_time(stamp)
    return None if when is None else ((now or SYSTEM_CLOCK.now()) - when).total_seconds()
