"""Applies sharing one PostgreSQL state, as CI and a laptop do, against `sandbox serve` in its own
process: a second apply from another checkout is refused naming the holder; a killed apply's lock
is free at once; a database restarted mid-apply stops the apply cleanly and the next run settles
its in-doubt writes by reading. The sandbox's ledger proves every membership was sent exactly once."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.apply._support import record_first_reads
from tests.apply.test_sigkill import N_CLARKY, _campaignctl, _env, _project, served  # noqa: F401 - fixture
from tests.postgres_support import pg_schema, server_dsn  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]
TOTAL = N_CLARKY + 5


def _checkout(root: Path, url: str, schema: str) -> Path:
    """A copy of the project whose state is the shared PostgreSQL schema."""
    _project(root, url)
    with (root / "campaignctl.yaml").open("a") as f:
        f.write(f"state: {{backend: postgres, dsn_env: CAMPAIGNCTL_STATE_DSN, schema: {schema}, project: team}}\n")
    return root


def _sighted(root: Path, env: dict[str, str], dsn: str, schema: str) -> None:
    """An apply's read finds the Kalent candidates absent (recorded in the shared state; a plan records
    nothing), then the settle window passes: their first absent read moves 11 minutes into the past, so
    an apply may start them."""
    planned = subprocess.run(_campaignctl("plan", str(root)), capture_output=True, text=True, env=env, timeout=120)
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr
    with psycopg.connect(dsn, autocommit=True) as db:
        unseen = f"SELECT project, address, extra FROM {schema}.objects WHERE status = 'unseen'"
        assert db.execute(unseen).fetchall() == [], "a plan recorded a Kalent candidate as absent"
    record_first_reads(root, env=env)
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute(unseen).fetchall()
        assert rows, "the apply's read recorded no Kalent candidate as absent"
        for project, address, extra in rows:
            data = json.loads(extra)
            then = datetime.strptime(data["since"], "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(seconds=660)
            data["since"] = then.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            db.execute(f"UPDATE {schema}.objects SET extra = %s WHERE project = %s AND address = %s",
                       (json.dumps(data), project, address))


def _pg_env(dsn: str) -> dict[str, str]:
    return {**_env(), "CAMPAIGNCTL_STATE_DSN": dsn}


def _wait_for_sends(control, proc, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while sum(control.sends().values()) < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _converge(root: Path, control, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Apply until nothing is left (Kalent starts become visible after its dispatch delay)."""
    for _ in range(4):
        control.advance("10s")
        rerun = subprocess.run(_campaignctl("apply", str(root), "--auto-approve"), capture_output=True, text=True,
                               env=env, timeout=180)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr
        if "Nothing to apply." in rerun.stdout:
            return rerun
    raise AssertionError(rerun.stdout[-2000:])


def _assert_sent_once(control) -> None:
    sends = control.sends()
    assert {k: n for k, n in sends.items() if n != 1} == {}
    assert len(sends) == TOTAL


def test_two_checkouts_one_database_one_apply_runs_the_other_is_refused(tmp_path, served, pg_schema):
    url, control = served
    dsn, schema = pg_schema
    ci, laptop = _checkout(tmp_path / "ci", url, schema), _checkout(tmp_path / "laptop", url, schema)
    env = _pg_env(dsn)
    _sighted(ci, env, dsn, schema)
    # every write is done and its answer held until the plan changes: the first apply keeps the lock
    # mid-apply, one write in flight per vendor, for as long as the other checkout takes
    control.set_faults({"script": [{"kind": "hold", "method": "WRITE", "seconds": 120, "times": None}]})
    first = subprocess.Popen(_campaignctl("apply", str(ci), "--auto-approve"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env)
    waited = None
    try:
        _wait_for_sends(control, first, 1)
        assert first.poll() is None, first.stderr.read()
        started = time.monotonic()
        second = subprocess.run(_campaignctl("apply", str(laptop), "--auto-approve"), capture_output=True, text=True,
                                env=env, timeout=60)
        assert second.returncode == 1 and time.monotonic() - started < 30, second.stderr
        assert "locked by campaignctl apply" in second.stderr
        assert f"(pid {first.pid} on {socket.gethostname()}, apply " in second.stderr
        assert dsn not in second.stderr + second.stdout
        waited = subprocess.Popen(_campaignctl("apply", str(laptop), "--auto-approve", "--lock-timeout", "120"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(1)
        assert first.poll() is None and waited.poll() is None, "the held apply or the waiting one ended"
        control.set_faults(None)  # the held answer goes out; the first apply finishes, then the waiting one runs
        assert first.wait(timeout=120) == 0, first.stderr.read()
        out, err = waited.communicate(timeout=180)
        assert waited.returncode == 0, err
    finally:
        for proc in (first, waited):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        first.stderr.close()
    _converge(laptop, control, env)
    # the laptop's plan comes from the shared state: Clarky enrollments it never made are known there
    planned = subprocess.run(_campaignctl("plan", str(laptop), "--detailed-exitcode"), capture_output=True, text=True,
                             env=env, timeout=120)
    assert planned.returncode == 0, planned.stdout[-2000:]
    _assert_sent_once(control)


def test_kill_9_of_the_holder_frees_the_lock_without_state_unlock(tmp_path, served, pg_schema):
    url, control = served
    dsn, schema = pg_schema
    ci, laptop = _checkout(tmp_path / "ci", url, schema), _checkout(tmp_path / "laptop", url, schema)
    env = _pg_env(dsn)
    _sighted(ci, env, dsn, schema)
    control.set_faults({"latency": 0.03, "only": {"kind": "latency", "method": "WRITE"}})
    apply = subprocess.Popen(_campaignctl("apply", str(ci), "--auto-approve"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
    _wait_for_sends(control, apply, 10)
    apply.send_signal(signal.SIGKILL)
    assert apply.wait(timeout=10) == -signal.SIGKILL
    assert sum(control.sends().values()) < TOTAL, "the kill came after the apply had finished"
    control.set_faults(None)
    # no `state unlock`: the killed session's lock is gone; the other checkout applies at once
    _converge(laptop, control, env)
    _assert_sent_once(control)


@pytest.fixture
def own_server(tmp_path):
    """A PostgreSQL server of this test's own (it is restarted mid-apply), via .ci/postgres."""
    server_dsn()  # skip (or fail in CI) like every PostgreSQL case when no server is configured
    if not Path("/usr/lib/postgresql/15/bin/pg_ctl").exists():
        pytest.skip("the PostgreSQL 15 server binaries are not installed (`.ci/run` installs them)")
    data = Path(f"/tmp/campaignctl-pgtest-{uuid.uuid4().hex[:8]}")
    data.mkdir(mode=0o755)
    started = subprocess.run(["bash", str(REPO / ".ci" / "postgres"), "start", str(data)], capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip(), data
    finally:
        subprocess.run(["bash", str(REPO / ".ci" / "postgres"), "stop", str(data)], capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)


def test_database_restarted_mid_apply_stops_it_cleanly_and_the_next_run_settles_by_reading(tmp_path, served,
                                                                                         own_server):
    url, control = served
    dsn, data = own_server
    root = _checkout(tmp_path / "ci", url, "campaignctl")
    env = _pg_env(dsn)
    _sighted(root, env, dsn, "campaignctl")
    control.set_faults({"latency": 0.05, "only": {"kind": "latency", "method": "WRITE"}})
    apply = subprocess.Popen(_campaignctl("apply", str(root), "--auto-approve"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    _wait_for_sends(control, apply, 8)
    restarted = subprocess.run(["bash", str(REPO / ".ci" / "postgres"), "restart", str(data)], capture_output=True,
                               text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 1, out[-2000:] + err
    assert "database connection was lost; nothing more is sent" in err and "internal error" not in err
    assert "Traceback" not in err and dsn not in out + err
    sent = sum(control.sends().values())
    assert sent < TOTAL, "the restart came after the apply had finished"
    with psycopg.connect(dsn) as db:  # the journal on the server holds an intent for every send so far
        intents = db.execute("SELECT COUNT(*) FROM campaignctl.journal WHERE phase = 'intent' "
                             "AND operation = 'enroll'").fetchone()[0]
    assert intents >= sent
    control.set_faults(None)
    _converge(root, control, env)
    _assert_sent_once(control)
