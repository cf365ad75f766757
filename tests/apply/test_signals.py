"""Real SIGINT / SIGTERM to a real `campaignctl apply` process over `sandbox serve` on loopback.

The first signal stops dispatching at once: at most the one Clarky start in flight (Clarky writes
are slowed down by a latency fault; Gary Club and Kalent are done before the signal) reaches the
vendor afterwards; the per-change report is printed, the lock released, the exit code is 130 for
SIGINT and 143 for SIGTERM, and the next apply finishes the job without `state unlock`, sending
each person exactly once. A second SIGINT aborts at once: the start in flight stays in doubt in
the journal, and the next apply settles it (a keyed replay) without a second send.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.apply.test_sigkill import EXAMPLE, N_CLARKY, _campaignctl, _env, _project, served  # noqa: F401 - fixture

ALL_SENDS = N_CLARKY + 5  # + 2 Gary Club + 3 Kalent


def _state(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(root / ".campaignctl" / "state.db"))


def _locks(root: Path) -> int:
    with _state(root) as db:
        return db.execute("SELECT COUNT(*) FROM locks").fetchone()[0]


def _in_doubt(root: Path) -> list[str]:
    """Journal intents without an outcome: writes that may or may not have happened."""
    with _state(root) as db:
        return [a for (a,) in db.execute("SELECT address FROM journal i WHERE phase = 'intent' AND NOT EXISTS "
                                         "(SELECT 1 FROM journal o WHERE o.intent_seq = i.seq)")]


def _clarky_sends(control) -> int:
    return sum(control.sends("clarky").values())


def _start_and_wait(root: Path, control, latency: float, clarky_sends: int) -> subprocess.Popen:
    """An apply with slow Clarky writes, once Gary Club and Kalent are done and `clarky_sends` went out."""
    control.set_faults({"latency": latency, "only": {"kind": "latency", "method": "WRITE", "vendor": "clarky"}})
    proc = subprocess.Popen(_campaignctl("apply", str(root), "--auto-approve"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        sends = control.sends()
        done_elsewhere = sum(n for (vendor, _, _), n in sends.items() if vendor != "clarky") == 5
        if done_elsewhere and _clarky_sends(control) >= clarky_sends:
            return proc
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"apply never reached {clarky_sends} Clarky sends: {proc.communicate()}")


def _finish(root: Path, control, sends_expected: int = ALL_SENDS) -> None:
    """Apply until nothing is left, without `state unlock`; then each person was sent exactly once."""
    control.set_faults(None)
    for _ in range(4):
        control.advance("10s")  # Kalent starts become visible after the dispatch delay
        rerun = subprocess.run(_campaignctl("apply", str(root), "--auto-approve"), capture_output=True, text=True,
                               env=_env(), timeout=120)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr
        if "Nothing to apply." in rerun.stdout:
            break
    else:
        raise AssertionError(rerun.stdout[-2000:])
    sends = control.sends()
    assert len(sends) == sends_expected and {k: n for k, n in sends.items() if n != 1} == {}


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_first_signal_stops_sending_reports_releases_the_lock_and_exits_128_plus_signal(tmp_path, served, signum,
                                                                                            code):
    url, control = served
    root = _project(tmp_path / "camp", url)
    proc = _start_and_wait(root, control, latency=0.3, clarky_sends=3)
    at_signal = _clarky_sends(control)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, out[-2000:] + err
    after = _clarky_sends(control)
    assert at_signal <= after <= at_signal + 1, "a write was dispatched after the signal beyond the one in flight"
    assert after < N_CLARKY, "the signal came after the apply had finished"

    # the per-change report: what was sent, and every change that was not started
    assert "Apply interrupted: " in out and "not started (interrupted)" in out
    not_started = [line for line in out.splitlines() if line.startswith("· ")]
    assert len(not_started) == N_CLARKY - after, out[-3000:]
    assert f"{signal.Signals(signum).name}: stopped; the lock is released" in err
    assert _locks(root) == 0
    assert _in_doubt(root) == []  # the write in flight finished and was recorded
    time.sleep(1)
    assert _clarky_sends(control) == after  # and nothing arrives later either

    _finish(root, control)


def test_a_second_sigint_aborts_at_once_and_the_next_apply_settles_without_a_second_send(tmp_path, served):
    url, control = served
    root = _project(tmp_path / "camp", url)
    proc = _start_and_wait(root, control, latency=3.0, clarky_sends=2)  # a start is in flight for 3 s
    at_signal = _clarky_sends(control)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out[-2000:] + err
    assert "aborting now" in err
    assert _locks(root) == 0
    doubt = _in_doubt(root)
    assert len(doubt) == 1 and doubt[0].startswith("clarky.membership["), doubt  # cut off before its answer
    assert _clarky_sends(control) <= at_signal + 1

    _finish(root, control)


def test_a_signal_while_reading_exits_before_any_write_and_releases_the_lock(tmp_path, served):
    url, control = served
    root = _project(tmp_path / "camp", url)
    # Each vendor writes as soon as its own read is done: give Clarky a pipeline to read too (its
    # sequence alone needs no read), so every vendor is still reading when the signal comes.
    shutil.copyfile(EXAMPLE / "sales.yaml", root / "sales.yaml")
    control.set_faults({"latency": 0.5, "only": {"kind": "latency", "method": "GET"}})
    seen = len(control.requests())  # _project's plan already read
    proc = subprocess.Popen(_campaignctl("apply", str(root), "--auto-approve"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 30
    while len(control.requests()) <= seen and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out[-2000:] + err
    assert "SIGTERM: interrupted before any write; nothing was sent." in err
    assert [r for r in control.requests() if r["method"] != "GET"] == [] and control.sends() == {}
    assert _locks(root) == 0
    _finish(root, control, ALL_SENDS + 5)  # + sales.yaml's 5 Clarky members (inbound-es)
