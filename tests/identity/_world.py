"""The scenarios of issue 13, each run twice: on the in-process sandbox (the engine with a hub the
test owns) and over loopback (`campaignctl` against a real `sandbox serve` socket on 127.0.0.1).

Every scenario ends with the sandbox's send ledger: each person sent at most once per vendor
sequence. The ledger counts per vendor contact, so a person the vendor holds twice would hide a
second send there; `sends_for` therefore counts every enrollment of a vendor sequence.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.hub import open_project_hub
from tests.apply._support import EXAMPLE, apply_once, plan_changes, time_passes
from tests.drift._support import serve_sandbox


# Manifest snippets and helpers the identity and in-doubt scenarios share.
CLARKY_SEQ = """\
sequences:
  - {id: inbound, provider: clarky, template: tpl_01HABC, members: [%s]}
"""
GARY_SEQ = """\
sequences:
  - {id: nurture, provider: gary, sequence: Post-call nurture, members: [%s]}
"""
TWO_BLUEPRINTS = """\
blueprints:
  - id: bp-a
    provider: kalent
    sourcing: "Senior Backend Engineer"
    name: "Backend outreach A"
    steps:
      - {id: invite, name: Invite, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION, content: "",
         temporalityType: ASAP}
  - id: bp-b
    provider: kalent
    sourcing: "Senior Backend Engineer"
    name: "Backend outreach B"
    steps:
      - {id: mail, name: Mail, type: EMAIL, subject: "Hi", content: "Hi {{firstname}}", temporalityType: ASAP}
"""


def actions(changes: list[dict]) -> dict[str, str]:
    return {c["address"]: c["action"] for c in changes}


def kalent_sends(world: World, candidate: str) -> int:
    return sum(n for (vendor, _, cand), n in world.hub.store.sends("kalent").items() if cand == candidate)


MODES = ("inprocess", "loopback")
IN_PROCESS_PROJECT = """\
version: 1
providers:
  clarky: {type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, sandbox: true}
  gary: {type: garyclub, api_key_env: GARY_API_KEY, sandbox: true}
  kalent: {type: kalent, api_key_env: KALENT_API_KEY, sandbox: true}
"""


class World:
    """One campaigns directory and the sandbox it talks to, in one of MODES."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        self.mode = mode
        if mode == "inprocess":
            self.root = tmp_path / "camp"
            self.root.mkdir()
            shutil.copytree(EXAMPLE / ".sandbox", self.root / ".sandbox")
            self.hub = open_project_hub(self.root, rate_limits=False)
            self.served = None
        else:
            self.served = serve_sandbox(tmp_path)
            self.hub = self.served.hub
            self.root = self.served.root
            self.root.mkdir(parents=True, exist_ok=True)

    def write(self, **files: str) -> None:
        """Replace every manifest with `files` (name -> YAML; '_' in a name stands for '.')."""
        for old in self.root.glob("*.y*ml"):
            old.unlink()
        for old in self.root.glob("*.csv"):
            old.unlink()
        project = IN_PROCESS_PROJECT if self.served is None else None
        if self.served is not None:
            self.served.write({})
        else:
            (self.root / "campaignctl.yaml").write_text(project)
        for name, text in files.items():
            (self.root / name.replace("_", ".")).write_text(textwrap.dedent(text))

    def apply(self) -> None:
        if self.served is None:
            report = apply_once(self.root, self.hub)
            assert all(r.status in ("ok", "skipped") for r in report.results), report.results
            return
        result = self.served.run("apply", str(self.root), "--auto-approve")
        assert result.code == 0, result.stdout + result.stderr

    def fail(self, command: str) -> str:
        """Run `command` (apply or plan), which must fail with exit 1; returns what it printed."""
        if self.served is None:
            from click.testing import CliRunner

            from reconciler.cli import main

            result = CliRunner().invoke(main, [command, str(self.root), *(["--auto-approve"] if command == "apply" else [])],
                                        env={"NO_COLOR": "1"}, catch_exceptions=False)
            assert result.exit_code == 1, result.output
            return result.output + (result.stderr if result.stderr_bytes is not None else "")
        result = self.served.run(command, str(self.root), *(["--auto-approve"] if command == "apply" else []))
        assert result.code == 1, result.stdout + result.stderr
        return result.stdout + result.stderr

    def advance(self, seconds: float) -> None:
        """The vendors' clock moves on (Kalent's dispatch delay, generation times)."""
        for sim in self.hub.simulators.values():
            sim.clock.advance(seconds)
            break

    def apply_settled(self) -> None:
        """apply, then apply again once Kalent's settle window has passed (a candidate never seen
        before is started only by a run that finds it still absent that much later)."""
        self.apply()
        self.advance(5)
        time_passes(self.root, self.hub, 660)
        self.apply()
        self.advance(5)

    def plan(self) -> list[dict[str, Any]]:
        """The planned changes as the plan's JSON form (address, action, reason, ...)."""
        if self.served is None:
            return [c.to_dict() for c in plan_changes(self.root, self.hub)]
        result = self.served.run("plan", str(self.root), "--format", "json")
        assert result.code in (0, 2), result.stdout + result.stderr
        return json.loads(result.stdout)["changes"]

    def lose_state(self) -> None:
        """A new CI runner: the state file is gone (the sandbox, the vendors' side, is not)."""
        for path in (self.root / ".campaignctl").glob("state.db*"):
            path.unlink()

    def state_sql(self, sql: str) -> None:
        """Edit the state file directly (to stand for a state an earlier campaignctl wrote)."""
        db = sqlite3.connect(str(self.root / ".campaignctl" / "state.db"))
        with db:
            db.execute(sql)
        db.close()

    def event(self, vendor: str, name: str, **kwargs: Any) -> Any:
        return self.hub.event(vendor, name, **kwargs)

    def sends_for(self, vendor: str, sequence: str | None = None) -> int:
        """Enrollments ever created in one vendor sequence (all of them, whichever vendor contact)."""
        return sum(n for (v, s, _), n in self.hub.store.sends(vendor).items() if sequence in (None, s))

    def assert_sent_at_most_once(self) -> None:
        dupes = {k: n for k, n in self.hub.store.sends().items() if n > 1}
        assert dupes == {}, f"duplicate sends: {dupes}"

    def close(self) -> None:
        if self.served is not None:
            self.served.close()
        else:
            self.hub.store.close()


@pytest.fixture(params=MODES)
def world(request, tmp_path):
    w = World(tmp_path, request.param)
    yield w
    w.close()
