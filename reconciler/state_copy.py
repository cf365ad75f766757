"""`state migrate`: copy a whole state between backends (cache, journal with its seqs, adoptions,
meta), then read the copy back and compare it row by row with the source.

Both stores are locked for the copy, so no apply writes to either meanwhile. The target must be
empty: a copy never merges into, or overwrites, another state. A move (`retire_source`) then marks
the source so that no apply takes it again: sends recorded there would be missing from the copy."""

from __future__ import annotations

from reconciler.errors import StateError
from reconciler.state import MOVED_KEY, TABLES, Store
from reconciler.timeutil import utcnow

HOLDER = "campaignctl state migrate"


def copy_state(source: Store, target: Store, *, retire_source: bool = False) -> dict[str, int]:
    """Copy `source` into the empty `target` and verify; returns rows copied per table."""
    _refuse_unless_empty(target)  # first: the reason that matters most, even when the source is retired
    source_lock = source.acquire_lock(HOLDER)
    try:
        target_lock = target.acquire_lock(HOLDER)
        try:
            _refuse_unless_empty(target)
            rows = {table: source.dump(table) for table in TABLES}
            target.load(rows)
            for table in TABLES:
                copied = target.dump(table)
                if copied != rows[table]:
                    raise StateError(f"the copy in {target.where} differs from {source.where} in table {table} "
                                     f"({len(copied)} rows vs {len(rows[table])}); do not switch to it")
            if retire_source:  # still under the source's lock: no apply can slip in between
                source.set_meta(MOVED_KEY, {"to": target.where, "at": utcnow(source.clock)})
        finally:
            target.release_lock(target_lock)
    finally:
        source.release_lock(source_lock)
    return {table: len(found) for table, found in rows.items()}


def _refuse_unless_empty(target: Store) -> None:
    if not target.is_empty():
        raise StateError(f"{target.where} already holds a state; `state migrate` copies only into an empty one")
