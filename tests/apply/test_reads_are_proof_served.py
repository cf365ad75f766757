"""The same proof against `campaignctl sandbox serve` in its own process, faults set through its
control API as JSON: a maintenance page on Gary Club's enrollment list after the state is lost
makes `plan` and `apply` exit 1 naming vendor, request and status; a Kalent start held out of the
status endpoint is not sent again when the state is lost meanwhile. The ledger ends the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.apply._support import shift_state
from tests.apply.test_sigkill import _campaignctl, _env, _project, served  # noqa: F401 - fixture

ALL_SENDS = 5  # 2 Gary Club + 3 Kalent (the bulk Clarky sequence is left out: its pacing is not the point)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_campaignctl(*args), capture_output=True, text=True, env=_env(), timeout=180)


def _lose_state(root: Path) -> None:
    for path in (root / ".campaignctl").glob("state.db*"):
        path.unlink()


def test_over_sandbox_serve_garbage_reads_stop_the_run_and_dispatching_starts_are_not_repeated(tmp_path, served):
    url, control = served
    root = _project(tmp_path / "camp", url)  # planned, and a settle window has passed
    (root / "bulk.yaml").unlink()
    control.set_faults({"script": [{"kind": "dispatch_delay", "method": "POST", "path": "/start$",
                                    "seconds": 300, "times": None}]})
    first = _run("apply", str(root), "--auto-approve")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    assert len(control.sends()) == ALL_SENDS

    _lose_state(root)  # the Kalent starts are still dispatching (five minutes)
    again = _run("apply", str(root), "--auto-approve")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    assert "Kalent starts asynchronously: no sequence for candidate" in again.stdout
    assert {k: n for k, n in control.sends().items() if n != 1} == {}

    control.advance("6m")  # now Kalent shows them
    control.event("garyclub", "reply", contact="maria@example.com")
    _lose_state(root)
    control.set_faults({"script": [{"kind": "body", "method": "GET", "path": "/sequences/[^/]+/enrollments$",
                                    "status": 200, "raw": "<html><body>Scheduled maintenance</body></html>",
                                    "times": None}]})
    planned = _run("plan", str(root))
    assert planned.returncode == 1
    assert "gary: GET /sequences/" in planned.stderr and "-> 200" in planned.stderr and "not JSON" in planned.stderr
    applied = _run("apply", str(root), "--auto-approve")
    assert applied.returncode == 1 and "gary: GET /sequences/" in applied.stderr

    control.set_faults(None)
    shift_state(root, 660)
    final = _run("apply", str(root), "--auto-approve")
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr
    sends = control.sends()
    assert len(sends) == ALL_SENDS and {k: n for k, n in sends.items() if n != 1} == {}
