"""Apply throughput against `campaignctl sandbox serve` at a 600 writes/min limit (issue 6).

    python bench/apply_throughput.py [--n 2000]     # ~7 min at N=2000; --n 200 takes ~1 min

A generated project has N new Clarky memberships (contacts unknown to Clarky: one sequences/start
each) and N managed cards seeded in stage Lead that `stage_policy: enforce` moves to Qualified (one
PATCH each). The Clarky simulator's limit is 600 writes/min (seed `config.rate_limits`), the
project's `rate_limit` says the same, and `base_url` points at the server on 127.0.0.1. Printed:
achieved write throughput over the write phase as a fraction of the limit (target >= 0.9), the
429 answers the sandbox logged (target 0: Clarky sends X-RateLimit headers) and sends per
membership from the sandbox's send ledger (each must be exactly 1).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import table  # noqa: E402

WRITES, READS = 600, 1200
KEY = "ck_live_bench"


def project_yaml(base_url: str, n: int) -> str:
    return yaml.safe_dump({
        "version": 1,
        "state": {"backend": "sqlite", "path": ".campaignctl/state.db"},
        "providers": {"clarky": {"type": "clarky", "api_key_env": "BENCH_CLARKY_KEY", "bot_id": "b_01HDEF",
                                 "base_url": base_url,
                                 "rate_limit": {"writes_per_minute": WRITES, "reads_per_minute": READS}}},
        "ownership_tag": "campaignctl",
        "safety": {"max_new_memberships_per_apply": max(200, n), "max_removal_fraction": 0.3},
    }, sort_keys=False)


MANIFEST = """\
contact_sources:
  - csv: contacts.csv
sequences:
  - id: inbound
    provider: clarky
    template: tpl_01HABC
    members_where: {tags_any: [enroll]}
pipelines:
  - id: sales
    provider: clarky
    pipeline: "Sales Pipeline"
    stage_policy: enforce
    cards:
      - for_each: {tags_any: [card]}
        stage: Qualified
        title: "{card_title}"
"""


def write_project(root: Path, n: int) -> None:
    """Manifests, N + N contacts, and the Clarky seed (bulk contacts with managed cards in Lead)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "campaignctl.yaml").write_text(project_yaml("http://127.0.0.1:9/clarky/api/v1", n))
    (root / "bench.yaml").write_text(MANIFEST)
    with (root / "contacts.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "first_name", "last_name", "email", "company", "tags", "card_title"])
        for i in range(1, n + 1):
            out.writerow([f"new-{i}", "New", f"Lead {i}", f"new-{i:06d}@example.net", f"New Co {i}", "enroll", ""])
            out.writerow([f"card-{i}", "Bulk", f"Contact {i}", f"bulk-{i:08d}@example.com", f"Bulk Co {i}", "card",
                          f"Bulk card {i}"])
    seed_dir = root / ".sandbox"
    seed_dir.mkdir(exist_ok=True)
    (seed_dir / "clarky.yaml").write_text(yaml.safe_dump({
        "config": {"generation_seconds": 60, "rate_limits": {"reads_per_minute": READS, "writes_per_minute": WRITES}},
        "bulk": {"contacts": n, "cards": n, "stage": "ps_01HSTA", "tags": ["bulk"], "card_tags": ["campaignctl"]},
    }, sort_keys=False))


def start_server(root: Path, *, rate_limits: bool = True) -> tuple[subprocess.Popen[str], str]:
    """`campaignctl sandbox serve --port 0` (rate limits on by default); returns the process and its base URL."""
    flag = "--rate-limits" if rate_limits else "--no-rate-limits"
    env = {k: v for k, v in os.environ.items() if k != "CAMPAIGNCTL_SANDBOX_RATE_LIMITS"}
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0", flag, "--dir",
                             str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"https?://127\.0\.0\.1:\d+", line)
    if not found:
        proc.kill()
        raise SystemExit(f"sandbox serve did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, found.group(0)


def measure(n: int) -> dict[str, Any]:
    from reconciler.sandbox.control import SandboxControl

    root = Path(tempfile.mkdtemp(prefix="bench-apply-")) / "camp"
    write_project(root, n)
    proc, url = start_server(root)
    try:
        (root / "campaignctl.yaml").write_text(project_yaml(f"{url}/clarky/api/v1", n))
        env = {**os.environ, "BENCH_CLARKY_KEY": KEY}
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(root), "--auto-approve", "--allow-large"],
                              env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        with SandboxControl(url) as control:
            log = control.requests("clarky")
            sends = control.sends("clarky")
        again = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(root), "--detailed-exitcode"],
                               env=env, capture_output=True, text=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    writes = [r for r in log if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]
    starts = [r for r in writes if r["path"].endswith("/sequences/start")]
    moves = [r for r in writes if r["method"] == "PATCH" and "/pipeline-cards/" in r["path"]]
    span = writes[-1]["at"] - writes[0]["at"] if len(writes) > 1 else 0.0
    per_min = (len(writes) - 1) / span * 60 if span > 0 else 0.0
    counts = list(sends.values())
    buckets = [0] * (int(span // 10) + 1)
    for r in writes:
        buckets[int((r["at"] - writes[0]["at"]) // 10)] += 1
    # The fastest the limit allows: a rolling 60 s window of WRITES, so W writes need at least
    # 60 * (ceil(W / WRITES) - 1) seconds plus the last window's writes at the unthrottled speed
    # (measured on the first window's burst). The efficiency is that over the span achieved.
    first = writes[:WRITES]
    burst_rate = (len(first) - 1) / (first[-1]["at"] - first[0]["at"]) if len(first) > 1 and first[-1]["at"] > first[0]["at"] else float("inf")
    windows = -(-len(writes) // WRITES)
    last = len(writes) - WRITES * (windows - 1)
    ideal = 60.0 * (windows - 1) + (last - 1) / burst_rate
    summary = [line for line in done.stdout.splitlines() if line.startswith("Apply complete")]
    return {
        "n": n, "apply_exit": done.returncode, "summary": summary[-1] if summary else done.stdout[-300:] + done.stderr[-300:],
        "wall_s": wall, "writes": len(writes), "starts": len(starts), "moves": len(moves), "write_span_s": span,
        "writes_per_min": per_min, "fraction": per_min / WRITES, "ideal_s": ideal,
        "efficiency": ideal / span if span > 0 else 1.0, "per_10s": buckets,
 "reads": len(log) - len(writes),
        "r429": sum(1 for r in log if r["status"] == 429), "enrolled": len(counts),
        "sends_max": max(counts, default=0), "sends_not_1": sum(1 for c in counts if c != 1),
        "replan_exit": again.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="new memberships, and as many card moves")
    args = parser.parse_args()
    r = measure(args.n)
    sys.stdout.write(f"{r['summary']}  (apply exit {r['apply_exit']}, wall {r['wall_s']:.1f} s)\n")
    sys.stdout.write(table(
        ["N", "writes", "starts", "moves", "reads", "write span s", "writes/min", "of limit (rate)", "of limit (time)", "429s",
         "members sent", "max sends", "sends != 1", "re-plan exit"],
        [[r["n"], r["writes"], r["starts"], r["moves"], r["reads"], r["write_span_s"], r["writes_per_min"],
          f"{r['fraction']:.3f}", f"{r['efficiency']:.3f}", r["r429"], r["enrolled"], r["sends_max"], r["sends_not_1"], r["replan_exit"]]]) + "\n")
    sys.stdout.write(f"writes per 10 s: {r['per_10s']}\n")
    sys.stdout.write(f"fastest the limit allows for {r['writes']} writes: {r['ideal_s']:.0f} s; achieved {r['write_span_s']:.1f} s "
                     f"(efficiency {r['efficiency']:.3f})\n")
    sys.stdout.write(f"targets: of limit (time) >= 0.9 -> {'ok' if r['efficiency'] >= 0.9 else 'MISSED'}; "
                     f"429s == 0 -> {'ok' if r['r429'] == 0 else 'MISSED'}; "
                     f"every membership sent once -> {'ok' if r['enrolled'] == r['n'] and r['sends_not_1'] == 0 else 'MISSED'}; "
                     f"re-plan empty (exit 0) -> {'ok' if r['replan_exit'] == 0 else 'MISSED'}\n")


if __name__ == "__main__":
    main()
