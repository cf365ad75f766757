"""Shared set-up for the Clarky adapter tests: a sandbox hub, a test project, providers on the hub
with a body-recording transport, and a fake clock so retries and pacing cost no real time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.model import DesiredState, ProviderConfig
from reconciler.providers.clarky import ClarkyProvider
from reconciler.sandbox.core import Hub
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport
from tests.fakes import FakeTime

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
KEY = "ck_live_Sup3rSecretTestKey0000000000000"
ROOT = "/api/v1"

CONTACTS = """\
contacts:
  - id: maria
    first_name: Maria
    last_name: García
    emails: [maria.t@example.com]
    phone_numbers: ["+34911234567"]
    company: Acme Spain
    notes: Speaks Spanish.
    tags: [es]
  - id: john
    first_name: John
    last_name: Smith
    emails: [john.t@example.com]
    company: Smith & Co
    tags: [en]
  - id: ada
    first_name: Ada
    emails: [ada@example.com]
    tags: [customer]
  - id: otto
    first_name: Otto
    emails: [optout@example.com]
    tags: [en]
"""

SEQUENCES = """\
sequences:
  - id: es
    provider: clarky
    template: tpl_01HABC
    members: [maria]
  - id: en
    provider: clarky
    template: tpl_01HNUR
    members: [john, otto]
"""

PIPELINES = """\
pipelines:
  - id: sales
    provider: clarky
    pipeline: "Sales Pipeline"
    cards:
      - contact: maria
        stage: Lead
        title: "Maria – inbound"
        description: Call in the morning
        tags: [inbound]
      - contact: ada
        stage: Lead
        title: "Ada – renewal"
"""


class Recording(httpx.BaseTransport):
    """Hands every request to the sandbox and keeps (method, path, JSON body) of each one sent."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path.removeprefix(ROOT), body))
        return self.inner.handle_request(request)

    def bodies(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.sent if m == method and p == path]


def make_hub(*, rate_limits: bool = False, **clarky: Any) -> Hub:
    """The example project's sandbox seed, plus extra Clarky seed keys (bulk:, config:, ...)."""
    seed = load_seed(EXAMPLE)
    seed["clarky"] = {**(seed.get("clarky") or {}), **clarky}
    return build_hub(None, seed, rate_limits=rate_limits)


@pytest.fixture
def hub():
    """A Clarky sandbox for one test, closed after it."""
    hub = make_hub()
    yield hub
    hub.store.close()


def make_provider(hub: Hub, config: ProviderConfig, key: str = KEY, **overrides: Any) -> tuple[ClarkyProvider, Recording]:
    """A provider on the hub with a fake clock; `overrides` replace config fields."""
    fake = FakeTime()
    recording = Recording(SandboxTransport(hub, "clarky"))
    config = dataclasses.replace(config, **overrides)
    return ClarkyProvider(config, key, transport=recording, sleep=fake.sleep, clock=fake.clock), recording


def clarky_config(desired: DesiredState) -> ProviderConfig:
    return desired.project.providers["clarky"]


def log(hub: Hub, start: int = 0) -> list[tuple[str, str, str]]:
    """(method, path below /api/v1, query) of every Clarky request the sandbox served from `start`."""
    return [(r["method"], r["path"].removeprefix(ROOT), r["query"]) for r in hub.store.requests("clarky")[start:]]


def sim_contact(hub: Hub, email: str) -> dict[str, Any]:
    """The simulator's contact record with this email."""
    return hub.simulators["clarky"].find_contact(email)
