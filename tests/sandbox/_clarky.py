"""A Clarky simulator in a real hub behind the httpx sandbox transport (in process, or over a
loopback `sandbox serve` with mode="loopback"), for the Clarky sim tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from reconciler.sandbox.core import Hub
from reconciler.sandbox.hub import build_hub
from tests.sandbox.loopback import INPROCESS, sandbox_transport

BASE_URL = "https://clarky.ai/api/v1"
KEY = "ck_live_example"
DAY = 86400

MARIA_START = {  # the documented sequences/start example
    "template_id": "tpl_01HABC",
    "contact": {
        "first_name": "Maria",
        "last_name": "García",
        "emails": ["maria@example.com"],
        "phone_numbers": ["+34911234567"],
        "company": "Acme Spain",
        "notes": "Speaks Spanish. Located in Madrid. Submitted contact form 30 seconds ago asking about pricing.",
    },
    "auto_approve": True,
    "idempotency_key": "lead_20260506_84211",
}


class Clarky:
    """A hub seeded with `section` for clarky, and clients per API key."""

    def __init__(self, section: dict[str, Any] | None = None, *, path: Path | None = None, rate_limits: bool = True,
                 mode: str = INPROCESS) -> None:
        self.hub: Hub = build_hub(path, {"clarky": section or {}}, rate_limits=rate_limits)
        self.mode = mode
        self.sim = self.hub.simulators["clarky"]
        self._clients: list[httpx.Client] = []
        self.api = self.client(KEY)

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=BASE_URL, transport=sandbox_transport(self.hub, "clarky", self.mode), headers=headers)
        self._clients.append(client)
        return client

    def advance(self, seconds: float) -> None:
        self.sim.clock.advance(seconds)

    def event(self, name: str, **kwargs: Any) -> Any:
        return self.hub.event("clarky", name, **kwargs)

    def start(self, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
        resp = self.api.post("/sequences/start", json=body)
        assert resp.status_code == status, resp.text
        return resp.json()

    def enrollment(self, enrollment_id: str) -> dict[str, Any]:
        resp = self.api.get(f"/sequences/enrollments/{enrollment_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    def sends(self) -> dict[tuple[str, str, str], int]:
        return self.hub.store.sends("clarky")

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.hub.store.close()


def start_body(email: str, template: str = "tpl_01HABC", **extra: Any) -> dict[str, Any]:
    """A minimal start body for one email address."""
    return {"template_id": template, "contact": {"first_name": "Test", "emails": [email]}, **extra}


def error_code(resp: httpx.Response) -> str:
    """The `code` of Clarky's error envelope (asserting the envelope's shape on the way)."""
    body = resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]["code"]
