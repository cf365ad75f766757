"""One project, two ways to reach the sandbox: in process (the engine over SandboxTransport) and over
loopback (the CLI against `SandboxServer`, what `campaignctl sandbox serve` runs, on 127.0.0.1 with
a free port). The tests of untrusted reads and Kalent's dispatch window run every case both ways
and end with the sandbox's send ledger.

`World.plan()` / `World.apply()` return an `Outcome`: the exit code the CLI gives (1 for any
ReconcilerError), the changes planned (address -> (action, reason)) and the error text.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.engine import open_session
from reconciler.errors import ReconcilerError
from reconciler.orchestrate import ApplyRun, run_plan
from reconciler.sandbox.core import Hub
from reconciler.sandbox.server import SandboxServer
from tests.apply._support import UNCHECKED, open_hub, shift_state, small_project

MODES = ("inprocess", "loopback")
KEYS = {"CLARKY_API_KEY": "ck_live_loopback_test", "GARY_API_KEY": "gc_live_loopback_test",
        "KALENT_API_KEY": "kalent_loopback_test"}
LOOPBACK_PROJECT = """\
version: 1
providers:
  clarky: {{type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, base_url: "{url}/clarky/api/v1"{extra}}}
  gary: {{type: garyclub, api_key_env: GARY_API_KEY, base_url: "{url}/garyclub/api/public/v1"{extra}}}
  kalent: {{type: kalent, api_key_env: KALENT_API_KEY, base_url: "{url}/kalent/api/v1"{kalent}}}
"""


@dataclass
class Outcome:
    code: int
    changes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    error: str = ""

    def actions(self, action: str) -> list[str]:
        return sorted(a for a, (act, _) in self.changes.items() if act == action)


class World:
    """A campaigns directory plus the sandbox hub it talks to (in process or over loopback)."""

    def __init__(self, mode: str, root: Path, hub: Hub, server: SandboxServer | None, kalent_extra: str = "") -> None:
        self.mode, self.root, self.hub, self.server = mode, root, hub, server
        self.kalent_extra = kalent_extra
        self.roots = [root]

    # -- running commands ------------------------------------------------------------------------
    def plan(self, root: Path | None = None) -> Outcome:
        root = root or self.root
        if self.mode == "inprocess":
            try:
                with open_session(root, env={}, hub=self.hub) as session:
                    plan = run_plan(session).plan
            except ReconcilerError as exc:
                return Outcome(1, error=str(exc))
            return Outcome(0, {str(c.address): (c.action, c.reason) for c in plan.changes})
        result = CliRunner().invoke(main, ["plan", str(root), "--format", "json"], env={**KEYS, "NO_COLOR": "1"})
        if result.exit_code != 0:
            return Outcome(result.exit_code, error=result.output)
        body = json.loads(result.stdout)
        return Outcome(0, {c["address"]: (c["action"], c.get("reason")) for c in body["changes"]})

    def apply(self, root: Path | None = None) -> Outcome:
        root = root or self.root
        if self.mode == "inprocess":
            try:
                with open_session(root, env={}, hub=self.hub) as session:
                    with ApplyRun(session, UNCHECKED) as run:
                        prepared = run.prepare()
                        report = run.execute().report
                plan = prepared.plan
                assert plan is not None
            except ReconcilerError as exc:
                return Outcome(1, error=str(exc))
            return Outcome(0 if report.ok else 1, {str(c.address): (c.action, c.reason) for c in plan.changes})
        result = CliRunner().invoke(main, ["apply", str(root), "--auto-approve"], env={**KEYS, "NO_COLOR": "1"})
        return Outcome(result.exit_code, error=result.output if result.exit_code else "")

    # -- the world around them -------------------------------------------------------------------
    def later(self, seconds: float) -> None:
        """The next run happens `seconds` later: for the vendors, and for the times every checkout's
        state recorded."""
        self.hub.simulators["kalent"].clock.advance(seconds)
        for root in self.roots:
            shift_state(root, seconds)

    def lose_state(self, root: Path | None = None) -> None:
        """A new CI runner: the state directory is gone (the sandbox data is kept apart from it)."""
        state = (root or self.root) / ".campaignctl" / "state.db"
        for path in state.parent.glob("state.db*"):
            path.unlink()

    def second_checkout(self, name: str = "checkout-2") -> Path:
        """Another clone of the same project with its own state file, on the same vendors."""
        other = self.root.parent / name
        shutil.copytree(self.root, other, ignore=shutil.ignore_patterns(".campaignctl"))
        self.roots.append(other)
        return other

    def sends(self) -> dict[tuple[str, str, str], int]:
        return self.hub.store.sends()

    def assert_sent_at_most_once(self) -> None:
        dupes = {k: n for k, n in self.sends().items() if n > 1}
        assert dupes == {}, f"sent more than once: {dupes}"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.hub.store.close()


def make_world(mode: str, tmp_path: Path, monkeypatch, *, kalent_extra: str = "") -> World:
    """The small example project (3 Clarky + 2 Gary Club + 3 Kalent members) on a fresh sandbox."""
    root = small_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    hub = open_hub(root)
    if mode == "inprocess":
        if kalent_extra:
            text = (root / "campaignctl.yaml").read_text()
            text = text.replace("    api_key_env: KALENT_API_KEY\n", f"    api_key_env: KALENT_API_KEY\n{kalent_extra}")
            (root / "campaignctl.yaml").write_text(text)
        return World(mode, root, hub, None)
    server = SandboxServer(hub).start()
    extra = ", rate_limit: {reads_per_minute: 100000, writes_per_minute: 100000}"
    kalent = ", rate_limit: {requests_per_minute: 100000}" + (
        ", " + kalent_extra.strip().replace("\n", ", ") if kalent_extra else "")
    (root / "campaignctl.yaml").write_text(LOOPBACK_PROJECT.format(url=server.url, extra=extra, kalent=kalent))
    return World(mode, root, hub, server)
