"""State backends compared: plan and apply at scale on SQLite and on PostgreSQL, and the state's write rate.

    CAMPAIGNCTL_BENCH_POSTGRES_DSN=postgresql://... python bench/state_backends.py [--sizes 10000,100000]

(Without CAMPAIGNCTL_BENCH_POSTGRES_DSN, CAMPAIGNCTL_TEST_POSTGRES_DSN is used; `.ci/postgres start DIR`
prints the DSN of a throw-away local server.) Each (size, backend) runs in a fresh interpreter on the
generated project of bench/_project.py against the in-process sandbox, rate limits off, so the
figures are campaignctl's own time. PostgreSQL runs in a fresh schema, dropped afterwards.

  cold plan   empty state: open_session -> read_live -> make_plan
  apply       the cold plan (1% new cards and enrollments); the time spent in journal writes
              (intent + outcome) is measured inside the store
  warm plan   twice after the apply (the second is reported as warm: caches of the OS and server hot)
  write rate  intent + outcome pairs, one thread, each row committed as apply commits it: the most
              writes per second the state allows, to compare with the vendors' write budgets
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _measure as m  # noqa: E402
import _project  # noqa: E402

BACKENDS = ("sqlite", "postgres")
WRITE_RATE_PAIRS = 500
# The fastest documented vendor write budget the defaults allow (writes per minute), for comparison.
FASTEST_WRITE_BUDGET_PER_MIN = 600


def dsn() -> str:
    return os.environ.get("CAMPAIGNCTL_BENCH_POSTGRES_DSN") or os.environ.get("CAMPAIGNCTL_TEST_POSTGRES_DSN") or ""


def _timed(store: Any, spent: dict[str, float], *names: str) -> None:
    """Count the time spent in these store methods (attribution only; behaviour is unchanged)."""
    for name in names:
        inner = getattr(store, name)

        def wrapper(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t
                spent["rows"] += 1

        setattr(store, name, wrapper)


def plan_once(root: Path, hub: Any, env: dict[str, str]) -> tuple[float, Any, Any]:
    """`plan` as the library runs it (reconciler/orchestrate.run_plan): seconds, the open session, the plan."""
    from reconciler.orchestrate import run_plan
    from reconciler.session import open_session

    t = time.perf_counter()
    session = open_session(root, hub=hub, env=env)
    plan = run_plan(session).plan
    return time.perf_counter() - t, session, plan


def write_rate(root: Path, env: dict[str, str]) -> float:
    """intent+outcome rows per second, committed one by one."""
    from reconciler.desired import load_desired
    from reconciler.model import Address
    from reconciler.state import open_store

    store = open_store(load_desired(root).project.state, env)
    try:
        t = time.perf_counter()
        for i in range(WRITE_RATE_PAIRS):
            seq = store.intent("bench", Address("gary", "membership", "bench", f"c{i}"), "enroll")
            store.outcome(seq, "ok", remote_id=f"e{i}")
        return 2 * WRITE_RATE_PAIRS / (time.perf_counter() - t)
    finally:
        store.close()


def one(n: int, backend: str) -> dict[str, Any]:
    os.environ["CAMPAIGNCTL_SANDBOX_RATE_LIMITS"] = "off"
    from reconciler.orchestrate import ApplyRequest, ApplyRun
    from reconciler.sandbox.hub import build_hub

    root = Path(tempfile.mkdtemp(prefix="bench-state-")) / "camp"
    seed = _project.write_project(root, n)
    env: dict[str, str] = {}
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        env["CAMPAIGNCTL_STATE_DSN"] = dsn()
        project = root / "campaignctl.yaml"
        project.write_text(re.sub(r"^state: .*$", f"state: {{backend: postgres, schema: {schema}, project: bench}}",
                                  project.read_text(), flags=re.M))
    hub = build_hub(None, seed)
    _project.start_kalent(hub, _project.split(n)[2])
    out: dict[str, Any] = {"n": n, "backend": backend}
    try:
        out["cold_s"], session, plan = plan_once(root, hub, env)
        out["changes"] = sum(1 for c in plan.changes if c.executable)
        spent = {"s": 0.0, "rows": 0}
        _timed(session.store, spent, "intent", "outcome")
        # The apply sequence as the CLI runs it (reconciler/orchestrate.py): it reads again, then writes;
        # apply s times the writes (settle and execute), which is what the journal's backend slows down.
        with ApplyRun(session, ApplyRequest(review=True, allow_large=True, force=True, holder="bench")) as run:
            run.prepare()
            t = time.perf_counter()
            report = run.execute().report
        out["apply_s"] = time.perf_counter() - t
        out["apply_not_ok"] = sum(1 for r in report.results if r.status != "ok")
        out["apply_journal_rows"] = spent["rows"]
        out["apply_journal_s"] = spent["s"]
        session.close()
        warm = []
        for _ in range(2):
            took, session, _ = plan_once(root, hub, env)
            session.close()
            warm.append(took)
        out["warm_first_s"], out["warm_s"] = warm
        out["write_rate"] = write_rate(root, env)
        out["peak_rss_mb"] = m.peak_rss_mb()
    finally:
        hub.store.close()
        if backend == "postgres":
            import psycopg

            with psycopg.connect(dsn(), autocommit=True) as db:
                db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return out


def render(results: list[dict[str, Any]]) -> str:
    rows = [[r["n"], r["backend"], r["cold_s"], r["changes"], r["apply_s"], r["apply_journal_rows"], r["apply_journal_s"],
             r["warm_first_s"], r["warm_s"], r["write_rate"], r["peak_rss_mb"]] for r in results]
    lines = ["Seconds, in-process sandbox, rate limits off. journal = intent + outcome rows written by the apply "
             "and the time spent writing them; write rate = rows/s committed one by one",
             m.table(["N", "backend", "cold plan", "changes", "apply", "journal rows", "journal s", "warm plan (1st)",
                      "warm plan", "write rate/s", "peak RSS MB"], rows)]
    by = {(r["n"], r["backend"]): r for r in results}
    ratios = [[n, by[(n, "postgres")]["warm_s"] / by[(n, "sqlite")]["warm_s"],
               by[(n, "postgres")]["cold_s"] / by[(n, "sqlite")]["cold_s"]]
              for n in sorted({r["n"] for r in results}) if (n, "postgres") in by and (n, "sqlite") in by]
    if ratios:
        lines += ["", "PostgreSQL / SQLite (target for the warm plan at 100k: <= 1.5)",
                  m.table(["N", "warm plan ratio", "cold plan ratio"], ratios)]
    need = 2 * FASTEST_WRITE_BUDGET_PER_MIN / 60
    lines += ["", f"The fastest default vendor write budget ({FASTEST_WRITE_BUDGET_PER_MIN}/min) needs {need:.0f} "
              "journal rows/s; lowest measured write rate: "
              f"{min(r['write_rate'] for r in results):.0f} rows/s"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    if args.one:
        sys.stdout.write(json.dumps(one(args.one, args.backend)) + "\n")
        return
    backends = args.backends.split(",")
    if "postgres" in backends and not dsn():
        raise SystemExit("set CAMPAIGNCTL_BENCH_POSTGRES_DSN (or CAMPAIGNCTL_TEST_POSTGRES_DSN) to a PostgreSQL "
                         "server's DSN, or pass --backends sqlite")
    results = []
    env = {**os.environ, "CAMPAIGNCTL_SANDBOX_RATE_LIMITS": "off"}
    for n in (int(s) for s in args.sizes.split(",")):
        for backend in backends:
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--backend", backend], env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise SystemExit(f"--one {n} --backend {backend} failed (exit {proc.returncode})")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            sys.stderr.write(f"done: {n} {backend}\n")
    sys.stdout.write(render(results) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
