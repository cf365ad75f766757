"""The `campaignctl` command itself at 10k-250k memberships: wall time, peak RSS, requests (issue 17).

    python bench/cli_plan.py [--memberships 10000,100000,250000] [--json]

Per size, a generated project (bench/_project.py: M memberships are 1.5 M contacts; a third of the
contacts have a Clarky card, a third are Gary Club members, a third Kalent candidates; 99% of each
already live) whose providers use the built-in sandbox (`sandbox: true`), persisted in the campaigns
directory and seeded before anything is measured. Then, each as its own `python -m reconciler`
process (rate limits off: this measures campaignctl, not the vendors' limits):
  cold     `plan DIR` without a state file
  apply    `apply DIR --auto-approve` (the 1% changes; the state cache is filled by its read)
  warm     `plan DIR` again
  refresh  `plan DIR --refresh` (every non-final status read again, as if the state cache were stale)
The apply starts from the state the cold plan left, which is none (plan writes nothing), so its read
bound is the cold read's; its requests are reads and writes together.
Wall time, CPU time (user + system: load inflates it far less than wall time) and the process's
peak RSS (os.wait4), all including the in-process sandbox, which
answers from its own SQLite file like a vendor would over the network. Requests are the sandbox's
log; the lower bound is bench/_measure.py's `lower_bound` over the state cache the run starts from.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _measure as m  # noqa: E402
import _project  # noqa: E402

PROJECT = _project.PROJECT


def run_cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One campaignctl process: exit code, wall seconds, peak RSS MB (of that process alone)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": proc.returncode, "s": time.perf_counter() - t0, "rss_mb": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "stderr": err.decode(errors="replace")[-300:] if proc.returncode not in (0, 2) else ""}


def one(memberships: int) -> dict[str, Any]:
    from reconciler.desired import load_desired
    from reconciler.sandbox.hub import open_project_hub
    from reconciler.state import open_store

    contacts = _project.contacts_for(memberships)
    root = Path(tempfile.mkdtemp(prefix="bench-cli-")) / "camp"
    seed = _project.write_project(root, contacts)
    (root / "campaignctl.yaml").write_text(PROJECT)
    _project.write_seed_files(root, seed)
    t0 = time.perf_counter()
    hub = open_project_hub(root, rate_limits=False)
    _project.start_kalent(hub, _project.split(contacts)[2])
    hub.store.commit()
    hub.store.close()
    out: dict[str, Any] = {"memberships": memberships, "contacts": contacts, "seed_s": time.perf_counter() - t0,
                           "runs": {}}
    env = {**os.environ, "CAMPAIGNCTL_SANDBOX_RATE_LIMITS": "off", "NO_COLOR": "1"}
    desired = load_desired(root)
    for step, args in (("cold", ["plan", str(root)]), ("apply", ["apply", str(root), "--auto-approve"]),
                       ("warm", ["plan", str(root)]), ("refresh", ["plan", str(root), "--refresh"])):
        hub = open_project_hub(root, rate_limits=False)
        before = m.vendor_requests(hub)
        state_path = root / ".campaignctl" / "state.db"
        cache: dict[Any, Any] = {}
        if state_path.exists():
            store = open_store(desired.project.state)
            try:
                cache = dict(store.cache())
            finally:
                store.close()
        bound = m.lower_bound(hub, cache, desired, refresh=step == "refresh")
        hub.store.close()
        run = run_cli(args, env)
        hub = open_project_hub(root, rate_limits=False)
        run["served"] = {k: v - before[k] for k, v in m.vendor_requests(hub).items()}
        hub.store.close()
        run["bound"] = bound
        out["runs"][step] = run
    return out


def render(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        for step, run in r["runs"].items():
            reads = "" if step == "apply" else " / ".join(f"{run['served'][v]:,}/{run['bound'][v]:,}" for v in m.VENDORS)
            rows.append([f"{r['memberships']:,}", f"{r['contacts']:,}", step, run["exit"], run["s"], run.get("cpu_s", 0.0),
                         run["rss_mb"],
                         reads or "(reads + writes) " + " / ".join(f"{run['served'][v]:,}" for v in m.VENDORS)
                         + "; read bound " + " / ".join(f"{run['bound'][v]:,}" for v in m.VENDORS)])
    text = m.table(["memberships", "contacts", "command", "exit", "wall s", "cpu s", "peak RSS MB",
                    "requests clarky / gary / kalent (served/bound)"], rows)
    errors = [f"{r['memberships']} {s}: {run['stderr']}" for r in results for s, run in r["runs"].items() if run["stderr"]]
    for r in results:
        if r["memberships"] != 100_000:
            continue
        cold, warm = r["runs"]["cold"], r["runs"]["warm"]
        at_bound = all(run["served"][v] <= run["bound"][v] for run in (cold, warm, r["runs"]["refresh"]) for v in m.VENDORS)
        rss = max(run["rss_mb"] for run in r["runs"].values())
        text += ("\ntargets at 100,000 memberships (wall time): cold plan < 30 s -> "
                 + _verdict(cold["s"] < 30, f"{cold['s']:.1f} s, CPU {cold.get('cpu_s', 0.0):.1f} s")
                 + "; warm plan < 10 s -> " + _verdict(warm["s"] < 10, f"{warm['s']:.1f} s, CPU {warm.get('cpu_s', 0.0):.1f} s")
                 + "; peak RSS < 600 MB -> " + _verdict(rss < 600, f"{rss:.0f} MB")
                 + "; requests at the lower bound -> " + _verdict(at_bound, "served <= bound"))
    return text + ("\n" + "\n".join(errors) if errors else "")


def _verdict(ok: bool, figure: str) -> str:
    return f"{'ok' if ok else 'MISSED'} ({figure})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memberships", default="10000,100000,250000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        sys.stdout.write(json.dumps(one(args.one)) + "\n")
        return
    results = m.run_children(Path(__file__).resolve(), [int(s) for s in args.memberships.split(",")], [])
    sys.stdout.write(render(results) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
