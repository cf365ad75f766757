"""Request pacing: a rolling-window budget per vendor rate limit, the budgets a provider gets, and the
least time they allow for an apply's writes (`least_seconds`, the floor of apply's progress estimate).

Pacing is a rolling 60 s window per budget (read + write, or one shared by both, as the vendor's
default limits say): never more than the per-minute limit in any 60 s, from the first request on,
whether or not the vendor sends headers (some send none); corrected by `X-RateLimit-Remaining` /
`X-RateLimit-Reset` when the vendor sends them (the vendor's count wins: other clients may share
the key). A token bucket that starts full and refills continuously lets nearly twice the limit
through in the first minute, which a sliding-window vendor answers with 429s.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from reconciler.model import ProviderConfig
from reconciler.plan_types import Change

STOP_POLL = 0.2  # seconds between looks at the stop event while waiting (budget, back-off)


class RollingWindow:
    """A budget of `limit` requests in any rolling `window` seconds, held from the very first request.

    A request occupies its slot from the moment it is let through until `window` (+ `margin`) seconds
    after its answer came back, so the vendor, whatever the latency, can never count more than `limit`
    arrivals in any window of its own: a request arrives after it was let through, and the one
    whose slot it reuses arrived before its answer came. `margin` absorbs a vendor that counts in
    whole seconds. Vendor headers (`X-RateLimit-*`, where sent) and Retry-After can only make it
    stricter: the vendor's count wins, other clients may share the key.
    """

    def __init__(self, limit: int, *, sleep: Callable[[float], None], clock: Callable[[], float],
                 window: float = 60.0, margin: float = 1.0, adopt_headers: bool = True) -> None:
        self.limit = max(1, int(limit))
        self.adopt_headers = adopt_headers  # False: `observe` ignores X-RateLimit-* (an unpaced sandbox)
        self.span = window + margin  # how long a finished request keeps its slot
        self._sleep = sleep
        self._clock = clock
        # (answer time, slots): monotonic, so sorted, newest last; slots > 1 only for a vendor's correction
        self._finished: deque[tuple[float, int]] = deque()
        self._held = 0  # sum of the slots in _finished
        self._in_flight = 0
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    @property
    def per_minute(self) -> int:
        return self.limit

    def take(self, stop: threading.Event | None = None) -> float | None:
        """Wait until a slot is free and occupy it; returns the seconds waited. Pair with `release()`.
        None when `stop` was set while waiting: then no slot was taken (and none may be released)."""
        waited = 0.0
        while True:
            if stop is not None and stop.is_set():
                return None
            with self._lock:
                now = self._clock()
                self._expire(now)
                if now >= self._blocked_until and self._in_flight + self._held < self.limit:
                    self._in_flight += 1
                    return waited
                if now < self._blocked_until:
                    delay = self._blocked_until - now
                elif self._finished:
                    delay = self._finished[0][0] + self.span - now
                else:  # every slot is held by a request still in flight (other threads): poll
                    delay = 0.05
            delay = max(delay, 0.001)
            if stop is not None:
                delay = min(delay, STOP_POLL)  # look at `stop` a few times a second
            self._sleep(delay)
            waited += delay

    def release(self) -> None:
        """The request let through by `take()` has its answer (or failed): its slot expires one span from now."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._hold(self._clock(), 1)

    def used(self) -> int:
        """Slots held right now (in flight or within a span of their answer)."""
        with self._lock:
            self._expire(self._clock())
            return self._in_flight + self._held

    def observe(self, headers: Mapping[str, str], wall: Callable[[], float] = time.time) -> None:
        """Adopt the vendor's own count where it sends one: fewer left than we think means someone else
        uses the key, so the difference is held for a full span; none left means wait for its reset."""
        remaining = header_int(headers.get("x-ratelimit-remaining")) if self.adopt_headers else None
        if remaining is None:
            return
        with self._lock:
            now = self._clock()
            self._expire(now)
            free = self.limit - self._in_flight - self._held
            if free > max(0, remaining):
                self._hold(now, free - max(0, remaining))
            reset = header_int(headers.get("x-ratelimit-reset"))
            if remaining <= 0 and reset is not None:
                self._blocked_until = max(self._blocked_until, now + max(0.0, reset - wall()))

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends on this budget before Retry-After has passed."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def _hold(self, now: float, slots: int) -> None:
        self._finished.append((now, slots))
        self._held += slots

    def _expire(self, now: float) -> None:
        while self._finished and self._finished[0][0] + self.span <= now:
            self._held -= self._finished.popleft()[1]


def header_int(value: str | None) -> int | None:
    """A rate-limit header's integer (Retry-After, X-RateLimit-*), None when absent or not a number."""
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def budgets_for(config: ProviderConfig, *, sleep: Callable[[float], None],
                clock: Callable[[], float]) -> dict[str, RollingWindow]:
    """{'read': bucket, 'write': bucket}; the same bucket twice for vendors with one budget."""
    limits = limits_of(config)
    paced = config.paced
    if "requests_per_minute" in limits and not ("reads_per_minute" in config.limits()
                                                or "writes_per_minute" in config.limits()):
        shared = RollingWindow(limits["requests_per_minute"], sleep=sleep, clock=clock, adopt_headers=paced)
        return {"read": shared, "write": shared}
    return {"read": RollingWindow(limits.get("reads_per_minute", 60), sleep=sleep, clock=clock, adopt_headers=paced),
            "write": RollingWindow(limits.get("writes_per_minute", 60), sleep=sleep, clock=clock, adopt_headers=paced)}


def limits_of(config: ProviderConfig) -> dict[str, int]:
    """A provider's rate limits: its vendor's defaults, each overridden by its own `rate_limit` key."""
    return {**default_limits(config.type), **config.limits()}


class _Configured(Protocol):
    config: ProviderConfig


def least_seconds(changes: list[Change], providers: Mapping[str, _Configured]) -> float:
    """The shortest time the providers' write budgets allow for these changes: a budget lets its
    per-minute limit through in any rolling 60 s (the first minute's worth at once), so N writes need
    60 s x (ceil(N / limit) - 1); providers run side by side, so the slowest one decides."""
    per_provider: dict[str, int] = {}
    for change in changes:
        if change.executable:
            per_provider[change.provider] = per_provider.get(change.provider, 0) + 1
    worst = 0.0
    for name, count in per_provider.items():
        limits = limits_of(providers[name].config)
        per_minute = limits.get("writes_per_minute") or limits.get("requests_per_minute") or 60
        worst = max(worst, 60.0 * max(0, math.ceil(count / per_minute) - 1))
    return worst


def default_limits(vendor_type: str) -> dict[str, int]:
    """The rate limits a vendor's spec sets by default ({} for a type no vendor has)."""
    from reconciler.providers import vendors  # imported on use: vendor packages import this module

    return vendors.rate_limits(vendor_type)
