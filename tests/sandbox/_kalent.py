"""A Kalent simulator behind the real httpx transport (in process, or over a loopback `sandbox serve`
with mode="loopback"), seeded from the shipped campaigns seed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.sandbox.core import Clock, Hub, RateLimiter, Store
from reconciler.sandbox.kalent import KalentSimulator
from tests.sandbox.loopback import INPROCESS, sandbox_transport

SEED_FILE = Path(__file__).resolve().parents[2] / "campaigns" / ".sandbox" / "kalent.yaml"
BASE_URL = "https://app.kalent.ai/api/v1"
KEY = "kalent_test_key"

INVITE = {"id": "invite", "name": "Invite", "type": "LINKEDIN", "linkedInType": "LINKEDIN_INVITATION_WITH_MESSAGE",
          "content": "Hi {{firstname}}", "temporalityType": "ASAP"}
MAIL = {"id": "mail-1", "name": "Follow-up", "type": "EMAIL", "subject": "Quick question", "content": "Hello {{firstname}}",
        "temporalityType": "DELAYED", "delay": {"value": 3, "unit": "day"}}


def shipped_seed() -> dict[str, Any]:
    return yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))


class Kalent:
    """Store + clock + simulator + hub + an httpx client authenticated with KEY."""

    def __init__(self, section: dict[str, Any], *, rate_limits: bool = True, mode: str = INPROCESS) -> None:
        self.store = Store(None)
        self.clock = Clock(self.store)
        self.sim = KalentSimulator(self.store, self.clock, RateLimiter(self.clock), rate_limits=rate_limits)
        self.sim.config = dict(section.get("config") or {})
        self.sim.seed(section)
        self.store.commit()
        self.hub = Hub(self.store, {"kalent": self.sim})
        self.http = httpx.Client(transport=sandbox_transport(self.hub, "kalent", mode), base_url=BASE_URL,
                                 headers={"x-api-key": KEY})

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def data(self, path: str, **params: Any) -> Any:
        resp = self.get(path, **params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["success"] is True
        return resp.json()["data"]

    def blueprint(self, steps: list[dict[str, Any]], sourcing: str = "src_backend", name: str = "Outreach") -> str:
        resp = self.http.post(f"/sourcings/{sourcing}/sequence-blueprints", json={"name": name, "steps": steps})
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]["blueprintId"]

    def blueprint_data(self, blueprint_id: str, sourcing: str = "src_backend") -> dict[str, Any]:
        """One blueprint, read the documented way: from its sourcing's list (there is no GET by id)."""
        listed = self.data(f"/sourcings/{sourcing}/sequence-blueprints", pageSize=50)["blueprints"]
        return next(bp for bp in listed if bp["blueprintId"] == blueprint_id)

    def start(self, blueprint_id: str, ids: list[str]) -> httpx.Response:
        return self.http.post(f"/sequence-blueprints/{blueprint_id}/start", json={"candidateIds": ids})

    def status(self, candidate: str) -> Any:
        return self.data(f"/candidates/{candidate}/dynamic-sequence")["sequence"]

    def event(self, name: str, **kwargs: Any) -> Any:
        return self.hub.event("kalent", name, **kwargs)

    def close(self) -> None:
        self.http.close()
        self.store.close()


def make(config: dict[str, Any] | None = None, bulk: int = 0, rate_limits: bool = True, mode: str = INPROCESS,
         **extra: Any) -> Kalent:
    """The shipped seed with `config` merged in, optionally `bulk` extra candidates in src_backend."""
    section = copy.deepcopy(shipped_seed())
    section["config"] = {**section.get("config", {}), "dispatch_delay": "0s", **(config or {})}
    if bulk:
        section["sourcings"][0]["bulk_candidates"] = {"count": bulk, "prefix": "cand_bulk_"}
    section.update(extra)
    return Kalent(section, rate_limits=rate_limits, mode=mode)
