"""Timestamps as campaignctl stores them: ISO 8601 UTC with microseconds and a Z."""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> str:
    """Now, in the state store's format."""
    return datetime.now(timezone.utc).strftime(FORMAT)


def parse_time(stamp: str | None) -> datetime | None:
    """An ISO 8601 time (Z or offset; naive means UTC) as an aware datetime; None if absent or unparsable."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def age_seconds(stamp: str | None, now: datetime | None = None) -> float | None:
    """Seconds since `stamp`; None when there is no (parsable) time."""
    when = parse_time(stamp)
    return None if when is None else ((now or datetime.now(timezone.utc)) - when).total_seconds()
