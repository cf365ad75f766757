"""Plan at scale: requests per vendor vs the lower bound, wall time, peak RSS (issue 8).

    python bench/plan_scale.py [--memberships 10000,100000,250000]

Each size runs in a fresh interpreter (peak RSS is per size) on a generated project (bench/_project.py)
against the in-process sandbox with rate limits off. Scenarios, in order, on one sandbox:
  cold     no state file: load_desired -> open_session -> read_live -> make_plan
  warm     after an apply (reconciler/orchestrate.ApplyRun: it reads again, then writes the 1% new cards
           and enrollments; "apply s" times the writes): the same path, fresh cache
  refresh  warm with --refresh: every non-final status re-read, what a stale cache costs
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


def one(n: int) -> dict[str, Any]:
    """Measure every scenario for one size; returns the figures as a dict."""
    os.environ["CAMPAIGNCTL_SANDBOX_RATE_LIMITS"] = "off"
    from reconciler.engine import make_plan, open_session, read_live
    from reconciler.orchestrate import ApplyRequest, ApplyRun
    from reconciler.sandbox.hub import build_hub

    import reconciler.engine as engine

    spent = {"remember_s": 0.0}
    inner = engine.record_read

    def timed_remember(*args: Any, **kwargs: Any) -> None:
        # Attribution only: read_live calls engine.record_read by module global; behaviour is unchanged.
        t = time.perf_counter()
        inner(*args, **kwargs)
        spent["remember_s"] += time.perf_counter() - t

    engine.record_read = timed_remember
    root = Path(tempfile.mkdtemp(prefix="bench-plan-")) / "camp"
    seed = _project.write_project(root, n)
    t0 = time.perf_counter()
    hub = build_hub(None, seed)
    _project.start_kalent(hub, _project.split(n)[2])
    out: dict[str, Any] = {"n": n, "seed_s": time.perf_counter() - t0, "rss_seeded_mb": m.current_rss_mb(), "runs": {}}
    for scenario in ("cold", "warm", "refresh"):
        before = m.vendor_requests(hub)
        spent["remember_s"] = 0.0
        t_start = time.perf_counter()
        with open_session(root, hub=hub) as session:
            t_open = time.perf_counter()
            cache = dict(session.store.cache())
            live = read_live(session, refresh=scenario == "refresh")
            t_read = time.perf_counter()
            plan = make_plan(session, live)
            t_plan = time.perf_counter()
            bound = m.lower_bound(hub, cache, session.desired, refresh=scenario == "refresh")
            served = {k: v - before[k] for k, v in m.vendor_requests(hub).items()}
            out["runs"][scenario] = {
                "open_s": t_open - t_start, "read_s": t_read - t_open, "remember_s": spent["remember_s"], "plan_s": t_plan - t_read,
                "total_s": t_plan - t_start, "requests": dict(live.requests), "served": served, "bound": bound,
                "changes": len(plan.changes), "memberships": sum(len(s.members) for s in session.desired.sequences),
                "cards": sum(len(p.cards) for p in session.desired.pipelines), "peak_rss_mb": m.peak_rss_mb(),
            }
            if scenario == "cold":
                # The apply sequence as the CLI runs it (reconciler/orchestrate.py); timed from the writes on.
                request = ApplyRequest(review=True, allow_large=True, force=True, holder="bench plan_scale")
                with ApplyRun(session, request) as run:
                    prepared = run.prepare()
                    t_apply = time.perf_counter()
                    report = run.execute().report
                assert prepared.plan is not None
                out["apply"] = {"s": time.perf_counter() - t_apply, "changes": len(prepared.plan.changes),
                                "failed": sum(1 for r in report.results if r.status != "ok")}
    out["peak_rss_mb"] = m.peak_rss_mb()
    return out


def render(results: list[dict[str, Any]]) -> str:
    """The figures as text tables."""
    lines = []
    rows = []
    for r in results:
        for scenario, run in r["runs"].items():
            for name in m.VENDORS:
                sent, bound = run["requests"].get(name, 0), run["bound"][name]
                rows.append([_project.memberships_of(r["n"]), scenario, name, sent, run["served"][name], bound, sent - bound,
                             "ok" if sent <= bound + 5 else "OVER", sent / m.RATE[name]])
    lines.append("Requests per vendor (sent = LiveSnapshot.requests, served = sandbox log; bound = list pages "
                 "at max page size + per-object reads without a list)")
    lines.append(m.table(["memberships", "scenario", "vendor", "sent", "served", "bound", "sent-bound", "target",
                          "est. min at limit"], rows))
    rows = []
    for r in results:
        for scenario, run in r["runs"].items():
            est = sum(run["requests"].get(name, 0) / m.RATE[name] for name in m.VENDORS)
            rows.append([r["n"], scenario, run["memberships"], run["cards"], run["changes"], run["open_s"], run["read_s"],
                         run["remember_s"], run["plan_s"], run["total_s"], run["peak_rss_mb"], est])
    lines.append("")
    lines.append("Wall time (s) and memory (MB); (state write) = the part of read_live spent in engine.record_read (what an apply's read records); "
                 "est. = minutes at the documented read limits, vendors read one after another")
    lines.append(m.table(["contacts", "scenario", "memberships", "cards", "changes", "open", "read_live", "(state write)", "make_plan", "total",
                          "peak RSS", "est. min"], rows))
    lines.append("")
    lines.append(m.table(["memberships", "seed s", "RSS after seed", "peak RSS", "apply s (1% changes)", "apply not ok"],
                         [[_project.memberships_of(r["n"]), r["seed_s"], r["rss_seeded_mb"], r["peak_rss_mb"], r["apply"]["s"], r["apply"]["failed"]]
                          for r in results]))
    sizes = sorted(results, key=lambda r: r["n"])
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        lines.append("")
        ratios = [[s, hi["runs"][s]["total_s"] / lo["runs"][s]["total_s"]] for s in lo["runs"]]
        lines.append(f"Time ratio {_project.memberships_of(hi['n'])}/{_project.memberships_of(lo['n'])} memberships "
                     f"(sizes x{hi['n'] / lo['n']:.0f}; linear: < 1.2 x the size ratio):")
        lines.append(m.table(["scenario", "ratio"], ratios))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memberships", default="10000,100000,250000",
                        help="sizes, in memberships (each project has 1.5 contacts per membership)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    if args.one:
        sys.stdout.write(json.dumps(one(args.one)) + "\n")
        return
    results = m.run_children(Path(__file__).resolve(), [_project.contacts_for(int(s)) for s in args.memberships.split(",")], [])
    sys.stdout.write(render(results) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
