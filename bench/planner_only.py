"""The planner alone: compute_plan on prebuilt desired/live, against the whole plan's time (issue 8).

    python bench/planner_only.py [--memberships 10000,100000,250000] [--repeat 3]

Per size, in a fresh interpreter: the generated project (bench/_project.py) is read once through the
in-process sandbox (rate limits off) to build real desired/live inputs; then compute_plan alone is
timed (best of --repeat) and compared with the whole warm plan (open_session -> run_plan, as
`campaignctl plan` runs it) measured in the same process. Target: planner < 25% of the whole plan.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _measure as m  # noqa: E402
import _project  # noqa: E402


def one(n: int, repeat: int) -> dict[str, Any]:
    os.environ["CAMPAIGNCTL_SANDBOX_RATE_LIMITS"] = "off"
    from reconciler.engine import open_session, policies_for, read_live
    from reconciler.orchestrate import run_plan
    from reconciler.plan import compute_plan
    from reconciler.sandbox.hub import build_hub

    root = Path(tempfile.mkdtemp(prefix="bench-planner-")) / "camp"
    hub = build_hub(None, _project.write_project(root, n))
    _project.start_kalent(hub, _project.split(n)[2])
    with open_session(root, hub=hub) as session:  # cold read: fills the cache, as a first plan would
        read_live(session)
    whole = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with open_session(root, hub=hub) as session:
            run_plan(session)
        whole.append(time.perf_counter() - t0)
    with open_session(root, hub=hub) as session:
        live = read_live(session)
        desired, policies = session.desired, policies_for(session)
    planner = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan = compute_plan(desired, live, policies)
        planner.append(time.perf_counter() - t0)
    return {"n": n, "memberships": sum(len(s.members) for s in desired.sequences),
            "cards": sum(len(p.cards) for p in desired.pipelines), "changes": len(plan.changes),
            "planner_s": min(planner), "whole_s": min(whole), "peak_rss_mb": m.peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memberships", default="10000,100000,250000",
                        help="sizes, in memberships (each project has 1.5 contacts per membership)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.stdout.write(json.dumps(one(args.one, args.repeat)) + "\n")
        return
    results = m.run_children(Path(__file__).resolve(), [_project.contacts_for(int(s)) for s in args.memberships.split(",")],
                             ["--repeat", str(args.repeat)])
    rows = [[r["memberships"], r["n"], r["cards"], r["changes"], r["planner_s"], r["whole_s"],
             f"{100 * r['planner_s'] / r['whole_s']:.1f}%", "ok" if r["planner_s"] < 0.25 * r["whole_s"] else "OVER"]
            for r in results]
    sys.stdout.write("compute_plan alone vs the whole warm plan (best of %d, seconds)\n" % args.repeat)
    sys.stdout.write(m.table(["memberships", "contacts", "cards", "changes", "compute_plan", "whole plan", "share",
                              "target <25%"], rows) + "\n")


if __name__ == "__main__":
    main()
