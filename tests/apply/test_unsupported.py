"""An operation a vendor cannot do raises the one UnsupportedOperation, a ProviderError: apply reports
that change `failed` with the reason, journals the error, and carries on with the other changes,
as for any vendor refusal. Nothing is sent for it.

Kalent has no cards: a card change that reaches its adapter (a hand-edited plan, a provider whose
type changed) used to raise ConfigError, which escaped apply's per-change handler and stopped the
whole run with the journal intent left open."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reconciler.apply import apply_plan
from reconciler.engine import open_session
from reconciler.model import Address, Card, Pipeline
from reconciler.plan_types import Change, Plan
from reconciler.snapshot import LiveSnapshot
from tests.apply._support import copy_example, open_hub


def _card_change(provider: str, key: str) -> tuple[Pipeline, Change]:
    address = Address(provider, "card", "recruiting", key)
    card = Card(address=address, pipeline_id="recruiting", contact_id=key, stage="Lead", title="Hire them")
    pipe = Pipeline(id="recruiting", provider=provider, provider_type="kalent", pipeline="Recruiting", cards=(card,))
    change = Change(address=address, action="create", provider=provider, irreversible=False, before=None,
                    after={"stage": "Lead", "title": "Hire them"}, precondition={"exists": False})
    return pipe, change


def test_a_card_change_on_a_vendor_without_cards_is_reported_failed_not_raised(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    hub = open_hub(root)
    try:
        with open_session(root, env={}, hub=hub) as session:
            contact = min(session.desired.contacts)
            pipe, change = _card_change("kalent", contact)
            session.desired = dataclasses.replace(session.desired, pipelines=(*session.desired.pipelines, pipe))
            sends_before = sum(hub.store.sends("kalent").values())
            report = apply_plan(session, Plan(changes=[change]), LiveSnapshot())
            journal = session.store.journal(str(change.address))
        sends_after = sum(hub.store.sends("kalent").values())
    finally:
        hub.store.close()
    (result,) = report.results
    assert result.status == "failed"
    assert "no pipelines or cards" in result.message
    assert sends_after == sends_before
    # the intent is closed with an error outcome: nothing is left in doubt for the next run
    assert [(row.phase, row.result) for row in journal] == [("intent", None), ("outcome", "error")]
