"""The Clarky simulator: the documented API at /api/v1 (docs.clarky.ai; seeds 000 and 001).

Modules: base (auth, scopes, error envelope, rate limits, pagination), contacts, sequences
(start + lazily computed enrollment status), pipelines (pipelines, stages, cards), events
(reply, unsubscribe, approve, stop, fail, move/archive/edit/delete card) and seeding (the default account).
Everything lives in Store collections named `clarky.*`: bots, templates, pipelines, stages,
contacts, cards, enrollments, idempotency, suppressions.

Config (seed `config:`): generation_seconds (60), stall_generation (false), rate_limits
{reads_per_minute: 120, writes_per_minute: 60}, keys ({ck_live_...: [read, write]}; when absent
any `ck_live_` key is accepted with both scopes).
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.clarky.events import EventsMixin
from reconciler.sandbox.clarky.seeding import DEFAULT_WORLD, seed_world

_ID = r"(?P<{}>[^/]+)"


class ClarkySimulator(EventsMixin):
    """Clarky's public API as the sandbox serves it."""

    routes = (
        ("GET", "/contacts", "list_contacts"),
        ("POST", "/contacts", "create_contact"),
        ("GET", "/contacts/by-email", "contact_by_email"),
        ("GET", "/contacts/" + _ID.format("contact_id"), "get_contact"),
        ("POST", "/sequences/start", "start_sequence"),
        ("GET", "/sequences/enrollments/" + _ID.format("enrollment_id"), "get_enrollment"),
        ("GET", "/pipelines", "list_pipelines"),
        ("GET", "/pipelines/" + _ID.format("pipeline_id") + "/stages", "list_stages"),
        ("GET", "/pipeline-cards", "list_cards"),
        ("POST", "/pipeline-cards", "create_card"),
        ("GET", "/pipeline-cards/" + _ID.format("card_id"), "get_card"),
        ("PATCH", "/pipeline-cards/" + _ID.format("card_id"), "update_card"),
        ("DELETE", "/pipeline-cards/" + _ID.format("card_id"), "delete_card"),
    )

    def seed(self, data: dict[str, Any]) -> None:
        seed_world(self, data)


__all__ = ["DEFAULT_WORLD", "ClarkySimulator"]
