"""Builds a Gary Club-only sandbox (store, clock, hub) and an httpx client on it (in process, or
over a loopback `sandbox serve` with mode="loopback")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.sandbox.core import Clock, Hub, RateLimiter, Store
from reconciler.sandbox.garyclub import GaryClubSimulator
from tests.sandbox.loopback import INPROCESS, sandbox_transport

SEED_FILE = Path(__file__).resolve().parents[2] / "campaigns" / ".sandbox" / "garyclub.yaml"
BASE = "https://agency.gary.club/api/public/v1"
KEY = "gc_live_EXAMPLE_AbCdEfGhIj0123456789"
CLIENT_ID = "5b0c3c9e-6f1a-4a59-9d59-2f6c8e1f0a11"
CLIENT_KEY = "cl_live_sandbox_acme_dental"
SEQ = "seq_EXAMPLE_aaaa"


def example_seed(**extra: Any) -> dict[str, Any]:
    """The shipped seed file, with extra top-level keys merged in."""
    section = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    section.update(extra)
    return section


def make_hub(section: dict[str, Any] | None = None, *, rate_limits: bool = False, path: Path | None = None) -> Hub:
    store = Store(path)
    clock = Clock(store)
    sim = GaryClubSimulator(store, clock, RateLimiter(clock), rate_limits=rate_limits)
    section = example_seed() if section is None else section
    sim.config = dict(section.get("config") or {})
    if not store.meta_get("garyclub.seeded"):
        sim.seed(section)
        store.meta_set("garyclub.seeded", True)
    store.commit()
    return Hub(store, {"garyclub": sim})


def client(hub: Hub, key: str | None = KEY, *, mode: str = INPROCESS, **headers: str) -> httpx.Client:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(transport=sandbox_transport(hub, "garyclub", mode), base_url=BASE, headers=headers)


def sim(hub: Hub) -> GaryClubSimulator:
    return hub.simulators["garyclub"]  # type: ignore[return-value]


def new_contact(http: httpx.Client, email: str, **fields: Any) -> str:
    resp = http.post("/crm/contacts", json={"email": email, **fields})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()["contact"]["id"]
