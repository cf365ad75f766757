"""Shared measuring helpers for the bench scripts: one size per fresh subprocess, RSS, bounds, tables.

Choices: the in-process sandbox runs on an in-memory store (`build_hub(None, seed)`), so seeding
100k objects takes seconds and the figures measure campaignctl, not SQLite writes of the sandbox's
request log to disk. Peak RSS (ru_maxrss) therefore includes the simulators' own copy of the
account; `rss_seeded_mb` (RSS right after seeding) says how much of it that is.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

VENDORS = {"clarky": "clarky", "gary": "garyclub", "kalent": "kalent"}  # provider name -> sandbox vendor
PAGE = {"clarky": 100, "gary": 200, "kalent": 50}  # maximum page sizes of the list endpoints
RATE = {"clarky": 120, "gary": 60, "kalent": 60}  # documented read limits per minute


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pages(objects: int, vendor: str) -> int:
    """ceil(objects / max page size); an empty list still costs one request."""
    return max(1, math.ceil(objects / PAGE[vendor]))


def vendor_requests(hub: Any) -> dict[str, int]:
    """Requests the sandbox has served so far, by provider name."""
    counts = hub.store.request_counts()
    return {name: counts.get(vendor, 0) for name, vendor in VENDORS.items()}


def lower_bound(hub: Any, cache: dict[Any, Any], desired: Any, *, refresh: bool) -> dict[str, int]:
    """Per provider: list pages at maximum page size over every list the plan needs, plus one read
    per object that has no list and is not known finished (Kalent candidates; the benchmark project
    has no Clarky sequence, so no Clarky enrollment status reads).

    Contact lists count only when some declared contact's remote id is not in the state cache."""
    from reconciler.snapshot import FAILED, FINISHED

    coll = hub.store.collection
    known = {a.key for a, e in cache.items() if e.contact}
    clarky_cards = sum(1 for c in coll("clarky.cards").values() if c.get("pipeline_stage_id", "").startswith("ps_01HST"))
    card_contacts = {c.contact_id for p in desired.pipelines if p.provider == "clarky" for c in p.cards}
    clarky = pages(len(coll("clarky.pipelines")), "clarky") + 1 + pages(clarky_cards, "clarky")
    if card_contacts - known:
        clarky += pages(len(coll("clarky.contacts")), "clarky")
    gary_members = [m for s in desired.sequences if s.provider == "gary" for m in s.members]
    gary = pages(len(coll("garyclub.sequences")), "gary") + pages(len(coll("garyclub.enrollments")), "gary")
    if {m.contact_id for m in gary_members} - known:
        gary += pages(len(coll("garyclub.contacts")), "gary")
    kalent = pages(len(coll("kalent.sourcings")), "kalent") + pages(len(coll("kalent.blueprints")), "kalent")
    for seq in (s for s in desired.sequences if s.provider == "kalent"):
        for member in seq.members:
            entry = cache.get(member.address)
            if entry is None or entry.status not in (FINISHED, FAILED) or refresh:
                kalent += 1
    return {"clarky": clarky, "gary": gary, "kalent": kalent}


def run_children(script: Path, sizes: Iterable[int], extra: list[str]) -> list[dict[str, Any]]:
    """Run `script --one N` in a fresh interpreter per size; each prints one JSON line last."""
    env = {**os.environ, "CAMPAIGNCTL_SANDBOX_RATE_LIMITS": "off"}
    out = []
    for n in sizes:
        proc = subprocess.run([sys.executable, str(script), "--one", str(n), *extra], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{script.name} --one {n} failed (exit {proc.returncode})")
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
