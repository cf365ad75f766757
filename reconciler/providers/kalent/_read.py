"""Reading a candidate's status against the state cache: a membership as the cache remembers it, and
whether a status answer can be about our own recorded start yet (the settle window after it).
"""

from __future__ import annotations

from typing import Any, Mapping

from reconciler.model import Address
from reconciler.providers.kalent import _api
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, CacheEntry, LiveMembership
from reconciler.timeutil import age_seconds


def from_cache(address: Address, entry: CacheEntry) -> LiveMembership:
    """A membership as the state cache remembers it (observed_at None: not read now)."""
    extra = dict(entry.extra)
    conflict = None
    if extra.get("reason") == _api.CONFLICT_REASON:
        conflict = (f"candidate {extra.get('contact')} was last seen in another Kalent sequence "
                    f"({entry.vendor_status}); decide in the Kalent UI")
    return LiveMembership(address=address, remote_id=entry.remote_id, status=entry.status or ACTIVE,
                          vendor_status=entry.vendor_status or entry.status or "unknown", reason=extra.get("reason"),
                          unreachable=bool(extra.get("unreachable")), attempt=entry.attempt, since=extra.get("since"),
                          observed_at=None, contact_remote_id=extra.get("contact"), conflict=conflict)


def dispatching(cached: CacheEntry | None, sequence: Mapping[str, Any] | None, settle_seconds: float) -> bool:
    """Our own start is so recent that the vendor's answer cannot be about it yet.

    Within the settle window "no sequence", an earlier sequence, or a final one whose id we never
    saw is the previous attempt (a retry or re-enrollment) rather than ours: reading it as ours would
    plan the same retry again. At worst a start that failed at once shows as active for a few minutes."""
    if cached is None or cached.status not in (ACTIVE, PAUSED) or not _settling(cached, settle_seconds):
        return False
    if sequence is None:
        return True
    if cached.remote_id is not None and sequence.get("sequenceId") == cached.remote_id:
        return False
    return _api.map_status(sequence)[0] in (FINISHED, FAILED) or older_than(sequence, dict(cached.extra).get("since"))


def start_never_showed(cached: CacheEntry | None, sequence: Mapping[str, Any] | None) -> bool:
    """Past the settle window: the cache records a start of ours (active or paused, with its time)
    that Kalent does not show, its latest sequence being one that began well before that start."""
    if cached is None or sequence is None or cached.status not in (ACTIVE, PAUSED):
        return False
    if cached.remote_id is not None and sequence.get("sequenceId") == cached.remote_id:
        return False
    return older_than(sequence, dict(cached.extra).get("since"))


def _settling(entry: CacheEntry, settle_seconds: float) -> bool:
    """A cached enrollment started so recently that Kalent may not show it yet."""
    age = age_seconds(dict(entry.extra).get("since"))
    return age is not None and age < settle_seconds


def older_than(sequence: Mapping[str, Any], sent_at: str | None) -> bool:
    """A sequence started well before our start is an earlier attempt, not the one in doubt."""
    started, sent = age_seconds(_api.started_at(sequence)), age_seconds(sent_at)
    return started is not None and sent is not None and started > sent + 60

