"""Shared set-up for the contact policy tests: the example project with a `policy:` section, on a
sandbox the test owns (`policy_sandbox`), and the sandbox clock moved to a chosen instant (nobody sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.apply_report import ApplyReport
from reconciler.engine import make_plan, open_session, read_live
from reconciler.orchestrate import ApplyRun
from reconciler.plan_types import Plan
from reconciler.sandbox.core import Hub
from tests.apply._support import UNCHECKED, copy_example, open_hub


def policy_project(tmp_path: Path, policy: str, *, safety: str = "", files: dict[str, str] | None = None) -> Path:
    """The example project with `policy` (YAML text of the section's body) in its project file."""
    root = copy_example(tmp_path)
    project = root / "campaignctl.yaml"
    text = project.read_text()
    if safety:
        text = text.replace("safety:\n", f"safety:\n{safety}", 1)
    project.write_text(text + "policy:\n" + policy)
    for name, content in (files or {}).items():
        (root / name).write_text(content)
    return root


@contextmanager
def policy_sandbox(tmp_path: Path, policy: str, *, safety: str = "",
                   files: dict[str, str] | None = None) -> Iterator[tuple[Path, Hub]]:
    """`policy_project` and its persisted in-process sandbox, closed on the way out."""
    root = policy_project(tmp_path, policy, safety=safety, files=files)
    hub = open_hub(root)
    try:
        yield root, hub
    finally:
        hub.store.close()


class SandboxTime:
    """The session's clock on the sandbox's simulated time, so that what the state records (when a
    status was read) and what the vendors do (when an enrollment ended) are on one clock as
    `clock_to` moves it; the contact policy decides by the session's clock."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def now(self) -> datetime:
        return sandbox_now(self.hub)


def plan_now(root: Path, hub: Hub) -> Plan:
    """The plan `campaignctl plan --refresh` would show now (read-only; statuses read again)."""
    with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
        return make_plan(session, read_live(session, read_only=True, refresh=True))


def apply_now(root: Path, hub: Hub) -> ApplyReport:
    """One reviewed `apply` (read every vendor, plan, write), on the sandbox's time."""
    with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session, ApplyRun(session, UNCHECKED) as run:
        run.prepare()
        return run.execute().report


def by_address(plan: Plan) -> dict[str, tuple[str, str | None]]:
    return {str(c.address): (c.action, c.reason) for c in plan.changes}


def clock_to(hub: Hub, when: datetime) -> None:
    """Move the sandbox clock (every simulator shares it) forward to `when`."""
    clock = next(iter(hub.simulators.values())).clock
    seconds = when.astimezone(UTC).timestamp() - clock.now()
    assert seconds >= 0, f"the sandbox clock is already past {when}"
    clock.advance(seconds)


def sandbox_now(hub: Hub) -> datetime:
    return datetime.fromtimestamp(next(iter(hub.simulators.values())).clock.now(), tz=UTC)
