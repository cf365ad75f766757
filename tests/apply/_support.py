"""Shared set-up for the apply tests: a scratch copy of the example project, a sandbox hub the
test owns, one apply run the way the CLI does it, and the send-ledger proof."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from reconciler.apply_report import ApplyReport
from reconciler.engine import open_session, read_live
from reconciler.errors import ProviderError
from reconciler.orchestrate import ApplyRequest, ApplyRun, run_plan
from reconciler.plan_types import Change
from reconciler.sandbox.core import FaultPlan, Hub
from reconciler.sandbox.hub import open_project_hub

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "campaigns"
# The example project: 5 Clarky + 6 Gary Club + 3 Kalent memberships, 6 cards, 1 blueprint.
EXAMPLE_SENDS = 14


def copy_example(tmp_path: Path) -> Path:
    """The example project in a fresh directory, without its state or sandbox data."""
    root = tmp_path / "camp"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    return root


SMALL_SALES = """\
sequences:
  - id: inbound-es
    provider: clarky
    template: tpl_01HABC
    members_where: {tags_all: [inbound, es]}
pipelines:
  - id: sales
    provider: clarky
    pipeline: "Sales Pipeline"
    cards:
      - {contact: maria-garcia, stage: Lead, title: "Acme Spain – inbound", tags: [inbound]}
"""
SMALL_NURTURE = """\
sequences:
  - id: nurture
    provider: gary
    sequence: "Post-call nurture"
    members: [maria-garcia, john-smith]
"""
# The small project: 3 Clarky + 2 Gary Club + 3 Kalent memberships, 1 card, 1 blueprint.
SMALL_SENDS = 8


def small_project(tmp_path: Path) -> Path:
    """The example project cut down, for tests that pay real back-off time per request."""
    root = copy_example(tmp_path)
    (root / "sales.yaml").write_text(SMALL_SALES)
    (root / "nurture.yaml").write_text(SMALL_NURTURE)
    (root / "leads.yaml").unlink()
    return root


def time_passes(root: Path, hub: Hub, seconds: float) -> None:
    """The next run happens `seconds` later: on the vendors' clock (the sandbox) and on ours (the
    times the state journal and cache recorded), so wall-clock windows such as Kalent's settle
    window elapse without the test waiting for them."""
    hub.simulators["kalent"].clock.advance(seconds)
    shift_state(root, seconds)


def shift_state(root: Path, seconds: float) -> None:
    """Move every time the project's state recorded `seconds` into the past (a later run)."""
    path = root / ".campaignctl" / "state.db"
    if not path.exists():
        return
    db = sqlite3.connect(str(path))

    def shift(text):
        if not text:
            return text
        then = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(seconds=seconds)
        return then.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    db.create_function("shift", 1, shift)
    with db:
        db.execute("UPDATE journal SET at = shift(at)")
        db.execute("UPDATE objects SET observed_at = shift(observed_at), "
                   "extra = json_set(extra, '$.since', shift(json_extract(extra, '$.since'))) "
                   "WHERE json_extract(extra, '$.since') IS NOT NULL")
        db.execute("UPDATE objects SET observed_at = shift(observed_at) WHERE json_extract(extra, '$.since') IS NULL")
    db.close()


def first_sighting(root: Path, hub: Hub) -> None:
    """Kalent starts a candidate only when a read found it absent a settle window earlier (a start by
    another run may still be dispatching): an apply's read records that first read, then the window
    passes. (`plan` records nothing.)"""
    record_first_reads(root, hub=hub)
    time_passes(root, hub, 660)


def sighted(root: Path, env: dict[str, str] | None = None) -> None:
    """`first_sighting` for a project the command line runs (its sandbox persisted beside it, `env` the
    command's environment): an apply's read records the first absent reads, then the window passes."""
    record_first_reads(root, env=env)
    shift_state(root, 660)


def record_first_reads(root: Path, *, hub: Hub | None = None, env: dict[str, str] | None = None) -> None:
    """What an apply's read records before anything is confirmed or sent (it is read-only): among it
    the first read that found each Kalent candidate absent. Since `plan` and `drift` write nothing to
    the state, this is how a test starts the settle window without enrolling anyone."""
    with patch.dict(os.environ, env or {}):
        with open_session(root, env={**os.environ, **(env or {})} if hub is None else {}, hub=hub) as session:
            read_live(session, read_only=True, record=True)


def open_hub(root: Path, faults: FaultPlan | None = None) -> Hub:
    """The project's persisted sandbox, simulated rate limits off (faults are what these tests inject)."""
    return open_project_hub(root, rate_limits=False, faults=faults)


def plan_changes(root: Path, hub: Hub) -> list[Change]:
    """The changes `plan` would show now."""
    with open_session(root, env={}, hub=hub) as session:
        return run_plan(session).plan.changes


# What these tests apply: the whole plan, read first; safety limits overridden (`--allow-large --force`)
# and stale changes reported per change (`--partial`), so a test sees every change the plan holds.
UNCHECKED = ApplyRequest(review=True, allow_large=True, force=True, partial=True, holder="apply test")


def apply_once(root: Path, hub: Hub) -> ApplyReport:
    """One `apply --auto-approve`: lock, read (resolving in-doubt writes), plan, apply."""
    return _apply(root, hub)[0]


def _apply(root: Path, hub: Hub) -> tuple[ApplyReport, list[Change]]:
    """The apply sequence of reconciler/orchestrate.py, reviewed (the whole plan first, then the writes),
    with every safety limit overridden and stale changes reported per change, as these tests always had it."""
    with open_session(root, env={}, hub=hub) as session:
        with ApplyRun(session, UNCHECKED) as run:
            prepared = run.prepare()
            outcome = run.execute()
    assert prepared.plan is not None
    return outcome.report, prepared.plan.changes


def converge(root: Path, hub: Hub, *, runs: int = 10, advance: float = 5.0) -> list[ApplyReport]:
    """Apply until an apply finds nothing to do or wait for (bounded). The sandbox clock moves
    `advance` s after each run (async starts become visible); while deferred (in-doubt) changes
    are left, the next run is 11 minutes later, past the Kalent settle window."""
    reports = []
    for _ in range(runs):
        try:
            report, planned = _apply(root, hub)
        except ProviderError:  # a read failed after all its retries: the run exits 1, the user re-runs
            continue
        reports.append(report)
        hub.simulators["kalent"].clock.advance(advance)
        left = executable(planned, defer=True)
        if not left:
            return reports
        if any(item.startswith("defer ") for item in left):
            time_passes(root, hub, 660)
    raise AssertionError(f"no convergence after {runs} applies; left: {executable(plan_changes(root, hub), defer=True)}")


def executable(changes: list[Change], *, defer: bool = False) -> list[str]:
    """The changes an apply would execute (and, with `defer`, the ones waiting on an unknown outcome)."""
    return [f"{c.action} {c.address}" for c in changes if c.executable or (defer and c.action == "defer")]


def assert_sent_once(hub: Hub, expected: int = EXAMPLE_SENDS) -> dict[tuple[str, str, str], int]:
    """The proof: every (vendor, sequence, contact) enrolled exactly once, and all of them enrolled."""
    sends = hub.store.sends()
    dupes = {k: n for k, n in sends.items() if n != 1}
    assert dupes == {}, f"duplicate sends: {dupes}"
    assert len(sends) == expected, sorted(sends)
    return sends


def writes(hub: Hub) -> list[dict[str, Any]]:
    """Every non-GET request the sandbox logged."""
    return [r for r in hub.store.requests() if r["method"] not in ("GET", "HEAD")]


def cards_per_contact(hub: Hub, vendor: str = "clarky") -> Counter:
    """Cards (Clarky) or deals (Gary Club) per contact id in the sandbox."""
    if vendor == "clarky":
        return Counter(c.get("contact_id") for c in hub.store.collection("clarky.cards").values())
    return Counter(d.get("primary_contact_id") for d in hub.store.collection("garyclub.deals").values())
