"""Shared set-up for the Kalent adapter tests: a seeded in-process sandbox and a provider on it."""

from __future__ import annotations

import dataclasses
from typing import Any
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.model import Address, Blueprint, DesiredState, Membership, Sequence
from reconciler.providers import unpaced
from reconciler.providers.base import EnrollRequest
from reconciler.providers.kalent import KalentProvider
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport
from tests.fakes import FakeTime
from tests.reading import read_with

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
KEY = "kalent_live_SECRETSECRETSECRET000000"
BULK = [f"cand_bulk_{i:05d}" for i in range(1, 251)]
DAY = 86400.0
STEPS = ({"id": "invite", "name": "Invite", "type": "LINKEDIN", "linkedInType": "LINKEDIN_INVITATION",
          "content": "", "temporalityType": "ASAP"},
         {"id": "mail-1", "name": "Mail", "type": "EMAIL", "subject": "Hi {{firstname}}", "content": "Hello",
          "temporalityType": "DELAYED", "delay": {"value": 2, "unit": "day"}})


def stamp(hours_ago: float = 0.0) -> str:
    """A wall-clock time in the state store's format."""
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def hub():
    seed = load_seed(EXAMPLE)
    kalent = seed["kalent"]
    kalent["config"] = {**kalent.get("config", {}), "dispatch_delay": "5m"}
    kalent["sourcings"] = [*kalent["sourcings"], {"id": "src_bulk", "name": "Bulk hiring",
                                                  "bulk_candidates": {"count": 250, "prefix": "cand_bulk_"}}]
    hub = build_hub(None, seed, rate_limits=False)
    yield hub
    hub.store.close()


@pytest.fixture
def desired() -> DesiredState:
    return load_desired(EXAMPLE)


def make_provider(hub, desired: DesiredState, *, key: str = KEY, **overrides) -> KalentProvider:
    config = dataclasses.replace(unpaced(desired.project.providers["kalent"]), **overrides)
    fake = FakeTime()
    provider = KalentProvider(config, key, transport=SandboxTransport(hub, "kalent"), sleep=fake.sleep, clock=fake.clock)
    provider.fake_time = fake  # type: ignore[attr-defined]
    return provider


def sent(hub, since: int = 0) -> list[tuple[str, str, str]]:
    return [(r["method"], r["path"], r["query"]) for r in hub.store.requests("kalent")[since:]]


def advance(hub, seconds: float) -> None:
    hub.simulators["kalent"].clock.advance(seconds)


def bulk_state(desired: DesiredState, candidates=BULK, *, target: str = "bulk-bp") -> DesiredState:
    bp = Blueprint(Address("kalent", "blueprint", "bulk-hiring", "bulk-bp"), "bulk-bp", "kalent", "Bulk hiring",
                   "Bulk outreach", STEPS)
    seq = Sequence(id="bulk", provider="kalent", provider_type="kalent", target=target, sourcing="Bulk hiring",
                   members=tuple(Membership(Address("kalent", "membership", "bulk", c), "bulk", None, c) for c in candidates))
    return dataclasses.replace(desired, blueprints=(bp,), sequences=(seq,))


def kalent_seq(desired: DesiredState) -> Sequence:
    return next(s for s in desired.sequences if s.provider == "kalent")


def enroll_all(provider: KalentProvider, seq: Sequence, seen: Any = None):
    size = provider.capabilities.enroll_batch_size
    members = [EnrollRequest(m, None) for m in seq.members]
    results = []
    for i in range(0, len(members), size):
        results.extend(provider.enroll(seq, members[i:i + size], seen=seen))
    return results


def assert_error(err: errors.ProviderError, cls: type, method: str, path: str, status: int | None, code: str | None) -> None:
    assert isinstance(err, cls), err
    assert (err.vendor, err.method, err.path, err.status, err.code) == ("kalent", method, path, status, code)
    assert err.request_id and err.request_id.startswith("req_")
    assert KEY not in str(err)


def ready(hub, desired) -> tuple[KalentProvider, Sequence, str, Any]:
    """A provider that read the example and created its blueprint; the start path, and what the read
    saw for the writes (LiveSnapshot.seen), which the writes are handed back."""
    provider = make_provider(hub, desired)
    seen = read_with(provider, desired).seen["kalent"]
    live = provider.create_blueprint(desired.blueprints[0])
    return provider, kalent_seq(desired), f"/sequence-blueprints/{live.remote_id}/start", seen
