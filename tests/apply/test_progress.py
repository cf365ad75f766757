"""Progress on stderr for applies longer than about 2 s (a plain line every few seconds without a TTY)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.server import SandboxServer
from tests.apply._support import EXAMPLE, record_first_reads, shift_state, small_project

PROJECT = """\
version: 1
providers:
  clarky: {{type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, base_url: "{url}/clarky/api/v1"}}
  gary: {{type: garyclub, api_key_env: GARY_API_KEY, base_url: "{url}/garyclub/api/public/v1"}}
  kalent: {{type: kalent, api_key_env: KALENT_API_KEY, base_url: "{url}/kalent/api/v1"}}
"""
ENV = {"CLARKY_API_KEY": "ck_live_progress_test", "GARY_API_KEY": "gc_live_progress_test",
       "KALENT_API_KEY": "kalent_progress_test", "CAMPAIGNCTL_SANDBOX": "0", "NO_COLOR": "1"}
PROGRESS = re.compile(r"^Applying: \d+/10", re.M)


def _apply(tmp_path, write_latency: float):
    hub = build_hub(None, load_seed(EXAMPLE), rate_limits=False,
                    faults=FaultPlan(latency=write_latency, only=Fault("latency", method="WRITE")))
    with SandboxServer(hub) as server:
        root = small_project(tmp_path)
        (root / "campaignctl.yaml").write_text(PROJECT.format(url=server.url))
        # an apply's read a settle window ago found the Kalent candidates absent: this apply may start them
        # (a plan records nothing in the state)
        record_first_reads(root, env=ENV)
        shift_state(root, 660)
        result = CliRunner(env=ENV).invoke(main, ["apply", str(root), "--auto-approve"], catch_exceptions=False)
    hub.store.close()
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("Apply complete: 8 enrolled, 2 created.")
    return result


def test_a_slow_apply_prints_progress_lines_on_stderr(tmp_path):
    slow = _apply(tmp_path, write_latency=0.55)  # Clarky's 5 writes in a row take ~2.75 s
    lines = PROGRESS.findall(slow.stderr)
    assert len(lines) >= 1, slow.stderr
    assert "\x1b" not in slow.stderr and "\r" not in slow.stderr  # no TTY: plain lines, no bar
    assert not PROGRESS.search(slow.stdout)


def test_a_quick_apply_prints_no_progress(tmp_path):
    quick = _apply(tmp_path, write_latency=0.0)
    assert not PROGRESS.search(quick.stderr), quick.stderr


def test_eta_never_promises_more_than_the_rate_limits_allow(monkeypatch):
    from reconciler.cli import app

    now = [100.0]
    monkeypatch.setattr(app, "is_tty", lambda stream: False)
    progress = app.Progress("Applying", total=1000, floor_seconds=600.0)
    progress._time = lambda: now[0]
    progress.start = 100.0
    lines: list[str] = []
    monkeypatch.setattr(app.click, "echo", lambda text, **kw: lines.append(text))
    now[0] = 110.0
    progress.step(n=600)  # a full bucket went out in a burst: 600 in 10 s
    assert lines[-1] == "Applying: 600/1,000, ETA 590s"  # the limit, not 400 more at burst speed (6 s)


def test_least_seconds_is_the_slowest_provider_after_its_first_minute(tmp_path):
    from reconciler.model import Address, ProviderConfig
    from reconciler.plan_types import Change
    from reconciler.providers import least_seconds

    class Named:
        def __init__(self, config):
            self.config = config

    def enroll(provider: str, i: int) -> Change:
        return Change(address=Address(provider, "membership", "s", f"c{i}"), action="enroll", provider=provider,
                      irreversible=True, before=None, after={}, precondition={})

    providers = {"clarky": Named(ProviderConfig("clarky", "clarky")), "gary": Named(ProviderConfig("gary", "garyclub"))}
    changes = [enroll("clarky", i) for i in range(180)] + [enroll("gary", i) for i in range(90)]
    # A rolling 60 s window of 60: Clarky's 180 need three windows (120 s); Gary's 90 two (60 s, not
    # the 30 s a continuously refilled bucket would promise).
    assert least_seconds(changes, providers) == 120.0
    assert least_seconds(changes[180:], providers) == 60.0
    assert least_seconds(changes[:50], providers) == 0.0
