"""SIGKILL in the middle of an apply, against `campaignctl sandbox serve` in its own process:
the re-run (after `state unlock`) finishes the job and every membership is sent exactly once."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reconciler.sandbox.server import SandboxControl
from tests.apply._support import EXAMPLE, record_first_reads, shift_state

# + 2 Gary Club + 3 Kalent memberships. Each new Clarky member costs two writes (its contact, then the
# start keyed on the contact's id): 24 of them stay within one minute of Clarky's 60 writes.
N_CLARKY = 24

PROJECT = """\
version: 1
providers:
  clarky: {{type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, base_url: "{url}/clarky/api/v1"}}
  gary: {{type: garyclub, api_key_env: GARY_API_KEY, base_url: "{url}/garyclub/api/public/v1"}}
  kalent: {{type: kalent, api_key_env: KALENT_API_KEY, base_url: "{url}/kalent/api/v1"}}
"""
KEYS = {"CLARKY_API_KEY": "ck_live_sigkill_test", "GARY_API_KEY": "gc_live_sigkill_test", "KALENT_API_KEY": "kalent_sigkill_test"}


def _campaignctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNCTL_")}
    return {**env, **KEYS, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


@pytest.fixture
def served(tmp_path):
    """`sandbox serve --port 0` with rate limits on, in its own process; yields (url, control)."""
    data = tmp_path / "sandbox"
    shutil.copytree(EXAMPLE / ".sandbox", data / ".sandbox")
    proc = subprocess.Popen(_campaignctl("sandbox", "serve", "--port", "0", "--rate-limits", "--dir", str(data)),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        url = lines.get(timeout=30).split()[3]
        with SandboxControl(url) as control:
            yield url, control
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()


def _project(root: Path, url: str) -> Path:
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl", ".sandbox", "leads*", "sales.yaml"))
    (root / "campaignctl.yaml").write_text(PROJECT.format(url=url))
    (root / "nurture.yaml").write_text("sequences:\n  - {id: nurture, provider: gary, sequence: Post-call nurture, "
                                       "members: [maria-garcia, john-smith]}\n")
    bulk = "".join(f"  - {{id: lead-{i:02d}, first_name: Lead, last_name: L{i:02d}, emails: [lead{i:02d}@example.com], "
                   "tags: [bulk]}\n" for i in range(N_CLARKY))
    (root / "bulk.yaml").write_text("contacts:\n" + bulk + "sequences:\n  - {id: bulk, provider: clarky, "
                                    "template: tpl_01HABC, members_where: {tags_all: [bulk]}}\n")
    # an apply's read a settle window ago found the Kalent candidates absent, so an apply may start them
    # (a plan records nothing in the state)
    record_first_reads(root, env=_env())
    shift_state(root, 660)
    return root


@pytest.mark.parametrize("kill_after", [1, 12, 20])
def test_sigkill_mid_apply_then_rerun_sends_every_membership_exactly_once(tmp_path, served, kill_after):
    url, control = served
    root = _project(tmp_path / "camp", url)
    control.set_faults({"latency": 0.03, "only": {"kind": "latency", "method": "WRITE"}})  # ~30 ms per write
    apply = subprocess.Popen(_campaignctl("apply", str(root), "--auto-approve"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=_env())
    deadline = time.monotonic() + 30
    while sum(control.sends().values()) < kill_after and apply.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    apply.send_signal(signal.SIGKILL)
    assert apply.wait(timeout=10) == -signal.SIGKILL
    sent_before = sum(control.sends().values())
    assert kill_after <= sent_before < N_CLARKY + 5, "the kill came after the apply had finished"
    # state.db alone (what a CI cache or a backup copies) holds every committed journal row:
    # every enrollment the sandbox received has its intent in the copy
    copy = tmp_path / "copied" / "state.db"
    copy.parent.mkdir()
    shutil.copyfile(root / ".campaignctl" / "state.db", copy)
    db = sqlite3.connect(copy)
    intents = db.execute("SELECT COUNT(*) FROM journal WHERE phase = 'intent' AND operation = 'enroll'").fetchone()[0]
    db.close()
    assert intents >= sent_before

    # the killed apply left its lock: the re-run names it, `state unlock` clears it
    control.set_faults(None)
    blocked = subprocess.run(_campaignctl("apply", str(root), "--auto-approve"), capture_output=True, text=True,
                             env=_env(), timeout=60)
    assert blocked.returncode == 1 and "is no longer running, so the lock is stale" in blocked.stderr
    lock_id = re.search(r"campaignctl state unlock (\w+)", blocked.stderr).group(1)
    unlocked = subprocess.run(_campaignctl("state", "unlock", lock_id, "--dir", str(root)), capture_output=True,
                              text=True, env=_env(), timeout=60)
    assert unlocked.returncode == 0, unlocked.stderr
    for _ in range(5):
        control.advance("10s")  # Kalent starts become visible after its dispatch delay
        rerun = subprocess.run(_campaignctl("apply", str(root), "--auto-approve"), capture_output=True, text=True,
                               env=_env(), timeout=120)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr
        if "Nothing to apply." in rerun.stdout:
            break
        if "deferred" in rerun.stdout:  # a Kalent start in flight at the kill: in doubt for the settle window
            shift_state(root, 660)
    else:
        raise AssertionError(rerun.stdout[-2000:])
    sends = control.sends()
    assert len(sends) == N_CLARKY + 5
    assert {k: n for k, n in sends.items() if n != 1} == {}


def test_a_second_apply_while_one_runs_fails_at_once_naming_the_holder(tmp_path, served):
    url, control = served
    root = _project(tmp_path / "camp", url)
    control.set_faults({"latency": 0.05, "only": {"kind": "latency", "method": "WRITE"}})
    first = subprocess.Popen(_campaignctl("apply", str(root), "--auto-approve"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + 30
        while not control.sends() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        second = subprocess.run(_campaignctl("apply", str(root), "--auto-approve"), capture_output=True, text=True,
                                env=_env(), timeout=60)
        assert second.returncode == 1 and time.monotonic() - started < 5
        assert "locked by campaignctl apply" in second.stderr and f"(pid {first.pid} on " in second.stderr
        assert first.wait(timeout=60) == 0  # the first finishes its work undisturbed
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    sends = control.sends()
    assert len(sends) == N_CLARKY + 5 and set(sends.values()) == {1}
