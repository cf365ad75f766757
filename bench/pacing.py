"""Real-time pacing at the documented rate limits, all three vendors at once (issue 17).

    python bench/pacing.py [--seconds 180] [--json]     # runs about --seconds (plus start-up)

`campaignctl sandbox serve` enforces each vendor's documented limit over a rolling 60 s window
(Clarky 120 reads + 60 writes per minute, Gary Club 60 requests, Kalent 60 requests). A generated
project gives every budget about `--seconds` of work at its limit: new Clarky cards (a contact and a
card each: writes), new Gary Club members (a contact and an enrollment each), and Kalent candidates
that are not started yet (one status read each, then starts in batches of 100). One
`campaignctl apply --auto-approve` runs against the server; the sandbox's request log gives, per
budget: requests, 429 answers, the largest number of requests in any 60 s window (the vendor's own
count), and the throughput as a share of the limit (the least time the limit allows for those
requests over the time they took from first to last). The least time a budget allows for R requests at L per minute is 60 * (ceil(R / L) - 1) s;
the apply's wall time is compared with the slowest budget's (each vendor on its own) and with their
sum (a barrier between every vendor's reads and writes pays roughly that). Targets: 0 x 429,
max in any 60 s <= the limit, throughput >= 0.95 of the limit, wall <= 1.1 x the slowest budget.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import table  # noqa: E402
from _project import MANIFEST  # noqa: E402  (the same bench project)
from apply_throughput import start_server  # noqa: E402

# Documented limits per budget: (sandbox vendor, which requests, per minute).
BUDGETS = {"clarky reads": ("clarky", "read", 120), "clarky writes": ("clarky", "write", 60),
           "gary": ("garyclub", "all", 60), "kalent": ("kalent", "all", 60)}
KEYS = {"BENCH_CLARKY_KEY": "ck_live_bench_pacing", "BENCH_GARY_KEY": "gc_live_bench_pacing",
        "BENCH_KALENT_KEY": "kalent_bench_pacing"}


def project_yaml(url: str) -> str:
    return yaml.safe_dump({
        "version": 1,
        "state": {"backend": "sqlite", "path": ".campaignctl/state.db"},
        "providers": {
            "clarky": {"type": "clarky", "api_key_env": "BENCH_CLARKY_KEY", "bot_id": "b_01HDEF",
                       "base_url": f"{url}/clarky/api/v1"},
            "gary": {"type": "garyclub", "api_key_env": "BENCH_GARY_KEY", "base_url": f"{url}/garyclub/api/public/v1"},
            "kalent": {"type": "kalent", "api_key_env": "BENCH_KALENT_KEY", "base_url": f"{url}/kalent/api/v1"},
        },
        "ownership_tag": "campaignctl",
        "safety": {"max_new_memberships_per_apply": 1_000_000, "max_removal_fraction": 1.0},
    }, sort_keys=False)


def sizes(seconds: float) -> tuple[int, int, int]:
    """(new Clarky cards, new Gary members, Kalent candidates) giving each budget a few requests more
    than `seconds` at its limit allows in full windows (the worst case for pacing: one more window).
    A new Clarky card or Gary member costs two writes (the contact, then the card or enrollment); a
    Kalent candidate one status read (plus a start per 100); each vendor adds a few list reads."""
    minutes = max(1, round(seconds / 60))
    return 30 * minutes + 2, 30 * minutes, 60 * minutes + 1


def write_project(root: Path, seconds: float) -> tuple[int, int, int]:
    from _project import STEPS  # noqa: PLC0415

    clarky, gary, kalent = sizes(seconds)
    root.mkdir(parents=True, exist_ok=True)
    (root / "campaignctl.yaml").write_text(project_yaml("http://127.0.0.1:9"))
    (root / "bench.yaml").write_text(MANIFEST)
    with (root / "contacts.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "first_name", "last_name", "email", "company", "tags", "kalent_candidate_id", "card_title"])
        for k in range(1, clarky + 1):
            out.writerow([f"cl-{k}", "New", f"Lead {k}", f"lead-{k:06d}@example.com", f"Co {k}", "clarky", "", f"Card {k}"])
        for k in range(1, gary + 1):
            out.writerow([f"gc-{k}", "New", f"Member {k}", f"member{k:06d}@example.test", "", "gary", "", ""])
        for k in range(1, kalent + 1):
            out.writerow([f"ka-{k}", "Candidate", f"{k:06d}", f"cand{k:06d}@example.org", "", "kalent",
                          f"cand_bulk_{k:05d}", ""])
    seed_dir = root / ".sandbox"
    seed_dir.mkdir(exist_ok=True)
    limits = {"clarky": {"reads_per_minute": 120, "writes_per_minute": 60}, "garyclub": {"requests_per_minute": 60},
              "kalent": {"requests_per_minute": 60}}
    seed = {
        "clarky": {"config": {"rate_limits": limits["clarky"]}},
        "garyclub": {"config": {"rate_limits": limits["garyclub"]},
                     "sequences": [{"id": "seq_EXAMPLE_aaaa", "name": "Post-call nurture", "status": "active",
                                    "steps": [{"kind": "sms", "wait_minutes": 1440, "body": "Hi {{first_name}}"}]}]},
        "kalent": {"config": {"rate_limits": limits["kalent"]},
                   "sourcings": [{"id": "src_bench", "name": "Bench Engineer",
                                  "bulk_candidates": {"count": kalent, "prefix": "cand_bulk_"}}],
                   "blueprints": [{"id": "bp_bench", "sourcing": "src_bench", "name": "Bench outreach", "steps": STEPS}]},
    }
    for vendor, section in seed.items():
        (seed_dir / f"{vendor}.yaml").write_text(yaml.safe_dump(section, sort_keys=False))
    return clarky, gary, kalent


def least_seconds(requests: int, per_minute: int) -> float:
    """The least time a rolling 60 s window of `per_minute` allows for `requests` (the first window at once)."""
    return 60.0 * max(0, math.ceil(requests / per_minute) - 1)


def most_in_any_window(times: list[float], span: float = 60.0) -> int:
    return max((bisect.bisect_left(times, t + span) - i for i, t in enumerate(times)), default=0)


def steady_fraction(times: list[float], per_minute: int) -> float | None:
    """Throughput as a share of the limit, time-based: the least time the limit allows for these
    requests over the time they took (first to last); None when they all fitted in the first window."""
    least = least_seconds(len(times), per_minute)
    if least <= 0:
        return None
    return least / (times[-1] - times[0])


def measure(seconds: float) -> dict[str, Any]:
    from reconciler.sandbox.control import SandboxControl

    root = Path(tempfile.mkdtemp(prefix="bench-pacing-")) / "camp"
    clarky, gary, kalent = write_project(root, seconds)
    proc, url = start_server(root, rate_limits=True)
    try:
        (root / "campaignctl.yaml").write_text(project_yaml(url))
        env = {**os.environ, **KEYS}
        env.pop("CAMPAIGNCTL_SANDBOX_RATE_LIMITS", None)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(root), "--auto-approve"],
                              env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        with SandboxControl(url) as control:
            log = control.requests()
            sends = control.sends()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rows = []
    for name, (vendor, kind, limit) in BUDGETS.items():
        mine = [r for r in log if r["vendor"] == vendor and (kind == "all" or (r["method"] in ("GET", "HEAD")) == (kind == "read"))]
        times = sorted(r["at"] for r in mine)
        rows.append({"budget": name, "limit": limit, "requests": len(mine),
                     "r429": sum(1 for r in mine if r["status"] == 429), "max60": most_in_any_window(times),
                     "steady": steady_fraction(times, limit), "least_s": least_seconds(len(mine), limit),
                     "span_s": times[-1] - times[0] if len(times) > 1 else 0.0})
    slowest = max(r["least_s"] for r in rows)
    summary = [line for line in done.stdout.splitlines() if line.startswith("Apply ")]
    counts = list(sends.values())
    return {"seconds": seconds, "cards": clarky, "gary_members": gary, "kalent_candidates": kalent,
            "apply_exit": done.returncode, "summary": summary[-1] if summary else (done.stdout + done.stderr)[-400:],
            "wall_s": wall, "budgets": rows, "slowest_s": slowest, "sum_s": sum(r["least_s"] for r in rows),
            "wall_over_slowest": wall / slowest if slowest else None,
            "members_sent": len(counts), "sends_not_1": sum(1 for c in counts if c != 1)}


def report(r: dict[str, Any]) -> str:
    lines = [f"{r['summary']}  (apply exit {r['apply_exit']}, wall {r['wall_s']:.1f} s; {r['cards']} new cards, "
             f"{r['gary_members']} Gary members, {r['kalent_candidates']} Kalent candidates)"]
    lines.append(table(["budget", "limit/min", "requests", "429s", "max in any 60 s", "throughput / limit",
                        "least s (limit)", "span s"],
                       [[b["budget"], b["limit"], b["requests"], b["r429"], b["max60"],
                         "-" if b["steady"] is None else f"{b['steady']:.3f}", b["least_s"], b["span_s"]]
                        for b in r["budgets"]]))
    ratio = r["wall_over_slowest"]
    lines.append(f"wall {r['wall_s']:.1f} s; slowest budget alone {r['slowest_s']:.0f} s (ratio "
                 f"{'-' if ratio is None else f'{ratio:.3f}'}); the budgets' sum {r['sum_s']:.0f} s")
    ok429 = all(b["r429"] == 0 for b in r["budgets"])
    okmax = all(b["max60"] <= b["limit"] for b in r["budgets"])
    oksteady = all(b["steady"] is None or b["steady"] >= 0.95 for b in r["budgets"])
    lines.append(f"targets: 0 x 429 -> {'ok' if ok429 else 'MISSED'}; max in any 60 s <= limit -> "
                 f"{'ok' if okmax else 'MISSED'}; throughput >= 0.95 of the limit -> {'ok' if oksteady else 'MISSED'}; "
                 f"wall <= 1.1 x slowest -> {'ok' if ratio is not None and ratio <= 1.1 else 'MISSED'}; "
                 f"every membership sent once -> {'ok' if r['sends_not_1'] == 0 else 'MISSED'}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="work per budget at its limit (the run's length)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = measure(args.seconds)
    sys.stdout.write(json.dumps(r) + "\n" if args.json else report(r))


if __name__ == "__main__":
    main()
