"""Shared set-up for the Gary Club adapter tests: a project, the in-process sandbox, providers."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.desired import load_desired
from reconciler.model import Address, DesiredState
from reconciler.providers.base import EnrollRequest
from reconciler.providers.garyclub import GaryClubProvider
from reconciler.sandbox.core import Hub
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport

REPO = Path(__file__).resolve().parents[2]
KEY = "gc_live_SECRETkey0123456789"
ROOT = "/api/public/v1"
PROJECT = "version: 1\nproviders:\n  gary: {type: garyclub, api_key_env: GARY_API_KEY, sandbox: true}\n"
CONTACTS = """\
contacts:
  - {id: maria, first_name: Maria, emails: [maria@example.com], phone_numbers: ["+34911234567"], tags: [inbound]}
  - {id: john, first_name: John, emails: [john@example.com], tags: [inbound]}
  - {id: ana, first_name: Ana, phone_numbers: ["+34600000001"], tags: [inbound]}
"""
NURTURE = """\
sequences:
  - id: nurture
    provider: gary
    sequence: "Post-call nurture"
    members_where: {tags_any: [inbound]}
    metadata: {source: campaignctl}
"""


class FakeTime:
    """Time for the client's pacing and backoff; sleeping also moves the sandbox clock."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.hub.simulators["garyclub"].clock.advance(seconds)

    def clock(self) -> float:
        return self.now


@dataclass
class Gary:
    """One scratch project on one in-memory sandbox."""

    hub: Hub
    desired: DesiredState
    root: Path

    def provider(self, key: str = KEY, *, client_id: str | None = None, time: FakeTime | None = None) -> GaryClubProvider:
        from dataclasses import replace

        config = replace(self.desired.project.providers["gary"], client_id=client_id)
        time = time or FakeTime(self.hub)
        return GaryClubProvider(config, key, transport=SandboxTransport(self.hub, "garyclub"),
                                sleep=time.sleep, clock=time.clock)

    def requests(self, since: int = 0) -> list[tuple[str, str, str]]:
        """(method, path below the API root, query) of every request the sandbox saw."""
        return [(r["method"], r["path"].removeprefix(ROOT), r["query"]) for r in self.hub.store.requests("garyclub")][since:]

    def log(self) -> list[dict[str, Any]]:
        return self.hub.store.requests("garyclub")

    def sends(self) -> dict[tuple[str, str, str], int]:
        return self.hub.store.sends("garyclub")

    def sequence(self, seq_id: str = "nurture") -> Any:
        return next(s for s in self.desired.sequences if s.id == seq_id)

    def request(self, key: str, seq_id: str = "nurture", attempt: int = 0) -> EnrollRequest:
        seq = self.sequence(seq_id)
        member = next(m for m in seq.members if m.contact_id == key)
        return EnrollRequest(member, self.desired.contacts[key], attempt)

    def contact_id(self, email: str) -> str:
        return next(c["id"] for c in self.hub.store.collection("garyclub.contacts").values() if c.get("email") == email)


def membership(key: str, seq_id: str = "nurture") -> Address:
    return Address("gary", "membership", seq_id, key)


def make_gary(make_project: Any, files: dict[str, str], *, seed_extra: dict[str, Any] | None = None,
              **hub_options: Any) -> Gary:
    """A project with only the Gary provider, and a fresh sandbox seeded from the example project."""
    root = make_project(files, project=PROJECT)
    seed = copy.deepcopy(load_seed(REPO / "campaigns"))
    seed["garyclub"] = {**seed["garyclub"], **(seed_extra or {})}
    return Gary(build_hub(None, seed, **hub_options), load_desired(root), root)
