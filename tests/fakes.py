"""Test doubles for time, shared by the HTTP client and adapter tests."""

from __future__ import annotations


class FakeTime:
    """Sleep and monotonic clock for the HTTP client: retries and pacing cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now
