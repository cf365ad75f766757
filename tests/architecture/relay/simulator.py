"""Relay's in-process simulator: campaigns from the seed, deliveries, and the send ledger."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse, Simulator
from tests.architecture.relay.spec import SANDBOX_KEY


class RelaySimulator(Simulator):
    """GET and POST /v1/campaigns/{name}/deliveries, keyed by `x-relay-key`."""

    vendor = "relay"
    root = "/v1"
    routes = [
        ("GET", r"/campaigns/(?P<campaign>[^/]+)/deliveries", "list_deliveries"),
        ("POST", r"/campaigns/(?P<campaign>[^/]+)/deliveries", "create_delivery"),
    ]

    def authenticate(self, req: SimRequest) -> tuple[SimResponse | None, str]:
        if req.headers.get("x-relay-key") != SANDBOX_KEY:
            return self.error(401, "unauthorised", "unknown key"), ""
        return None, SANDBOX_KEY

    def error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
        return SimResponse(status, {"fault": {"kind": code, "text": message, "details": details or {}}})

    def seed(self, data: dict[str, Any]) -> None:
        campaigns = self.store.collection("relay.campaigns")
        for name in data.get("campaigns") or []:
            campaigns.put(name, {"name": name})

    def _deliveries(self, campaign: str) -> list[dict[str, Any]]:
        return [d for d in self.store.collection("relay.deliveries").values() if d["campaign"] == campaign]

    def list_deliveries(self, req: SimRequest, campaign: str) -> SimResponse:
        if campaign not in self.store.collection("relay.campaigns"):
            return self.error(404, "no_campaign", f"no campaign {campaign!r}")
        return SimResponse(200, {"deliveries": self._deliveries(campaign)})

    def create_delivery(self, req: SimRequest, campaign: str) -> SimResponse:
        if campaign not in self.store.collection("relay.campaigns"):
            return self.error(404, "no_campaign", f"no campaign {campaign!r}")
        body = req.json() or {}
        if not body.get("to"):
            return self.error(422, "invalid", "a delivery needs `to`")
        delivery = {"id": self.new_id("dl_"), "campaign": campaign, "to": body["to"], "status": "queued",
                    "priority": body.get("priority") or "low", "created_at": self.clock.iso()}
        self.store.collection("relay.deliveries").put(delivery["id"], delivery)
        self.store.record_send(self.vendor, campaign, body["to"], delivery["id"], self.clock.now())
        return SimResponse(201, {"delivery": delivery})
