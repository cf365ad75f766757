"""Progress on stderr for applies longer than about 2 s (a plain line every few seconds without a TTY)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.server import SandboxServer
from tests.apply._support import EXAMPLE, small_project

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
