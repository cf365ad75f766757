"""The volume forecast: how many messages a plan's enrollments send in the next 24 hours and 7 days.

Per vendor (provider name) and channel, from each sequence's cadence (`LiveSnapshot.cadences`:
the (channel, seconds after enrolling) of every step, which the providers derive from the steps
their vendor exposes). A sequence whose vendor exposes no steps (one that writes each contact's steps itself)
counts its enrollments as `unknown`: no number is made up for it. A cadence is what the steps send
when nobody replies; a step that waits on the person (an accepted invitation) is counted as soon as
it could fire, so the forecast is the most the enrollments can send, never less.
"""

from __future__ import annotations

from typing import Any

from reconciler.plan_types import Plan
from reconciler.snapshot import LiveSnapshot

DAY = 86400.0
WEEK = 7 * DAY
SENDS = ("enroll", "retry")


def forecast(plan: Plan, live: LiveSnapshot) -> dict[str, Any]:
    """{"rows": [{provider, channel, enrollments, next_24h, next_7d}], "next_24h", "next_7d",
    "unknown_enrollments"}; rows sorted, unknown ones with channel "unknown" and null counts."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    unknown = 0
    for change in plan.changes:
        if change.action not in SENDS or change.address.kind != "membership":
            continue
        cadence = live.cadences.get((change.provider, change.address.group))
        if cadence is None:
            unknown += 1
            row = rows.setdefault((change.provider, "unknown"), _row(change.provider, "unknown", None))
            row["enrollments"] += 1
            continue
        for channel in sorted({c for c, _ in cadence}):
            row = rows.setdefault((change.provider, channel), _row(change.provider, channel, 0))
            row["enrollments"] += 1
            row["next_24h"] += sum(1 for c, at in cadence if c == channel and at < DAY)
            row["next_7d"] += sum(1 for c, at in cadence if c == channel and at < WEEK)
    ordered = [rows[k] for k in sorted(rows)]
    return {"rows": ordered,
            "next_24h": sum(r["next_24h"] or 0 for r in ordered),
            "next_7d": sum(r["next_7d"] or 0 for r in ordered),
            "unknown_enrollments": unknown}


def _row(provider: str, channel: str, zero: int | None) -> dict[str, Any]:
    return {"provider": provider, "channel": channel, "enrollments": 0, "next_24h": zero, "next_7d": zero}


def forecast_lines(data: dict[str, Any] | None) -> list[str]:
    """The text plan's forecast block (empty when the plan sends nothing)."""
    if not data or not data.get("rows"):
        return []
    out = [f"Forecast: {data['next_24h']:,} messages in the next 24 h, {data['next_7d']:,} in 7 days"
           + (f", plus {data['unknown_enrollments']:,} enrollment(s) whose vendor does not expose its steps"
              if data["unknown_enrollments"] else "") + ":"]
    for row in data["rows"]:
        if row["next_24h"] is None:
            out.append(f"  {row['provider']:<10} {'unknown':<9} {row['enrollments']:,} enrollment(s): the vendor does "
                       "not expose the sequence's steps")
        else:
            out.append(f"  {row['provider']:<10} {row['channel']:<9} next 24 h {row['next_24h']:>6,}   next 7 days "
                       f"{row['next_7d']:>6,}   ({row['enrollments']:,} enrollment(s))")
    return out


def over_daily_limit(data: dict[str, Any], limit: int | None) -> str | None:
    """The safety reason when the forecast's next 24 h exceeds `safety.max_messages_per_day`."""
    if limit is None or data["next_24h"] <= limit:
        return None
    return (f"the forecast of {data['next_24h']:,} messages in the next 24 h exceeds max_messages_per_day ({limit:,})")


def forecast_table(data: dict[str, Any] | None) -> list[str]:
    """The Markdown plan's forecast: the headline, then one table row per provider and channel."""
    lines = forecast_lines(data)
    if not lines or data is None:
        return []
    out = [f"**{lines[0].rstrip(':')}**", "", "| provider | channel | enrollments | next 24 h | next 7 days |",
           "|---|---|---|---|---|"]
    for row in data["rows"]:
        known = row["next_24h"] is not None
        out.append(f"| {row['provider']} | {row['channel']} | {row['enrollments']:,} | "
                   f"{row['next_24h'] if known else 'unknown'} | {row['next_7d'] if known else 'unknown'} |")
    return out
