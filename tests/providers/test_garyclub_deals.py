"""Gary Club deals as cards, and the whole plan -> apply -> plan loop on the Gary sandbox."""

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.engine import open_session
from reconciler.model import Address
from reconciler.orchestrate import ApplyRequest, ApplyRun
from reconciler.plan import compute_plan
from reconciler.providers.base import CardUpdate
from reconciler.sandbox.core import Fault
from reconciler.sandbox.hub import open_project_hub
from tests.providers._gary import CONTACTS, NURTURE, PROJECT, REPO, make_gary
from tests.reading import read_with

SALES = """\
pipelines:
  - id: sales
    provider: gary
    pipeline: Sales
    stage_policy: enforce
    cards:
      - {contact: maria, stage: New, title: "Maria – inbound", description: Renewal in Q2, tags: [inbound]}
      - {contact: john, stage: Contacted, title: "John – inbound"}
"""
CRM = {
    "contacts": [{"email": "maria@example.com", "first_name": "Maria"}, {"email": "old@example.com", "first_name": "Old"},
                 {"email": "walkin@example.com", "first_name": "Walk"}],
    "deals": [{"name": "Maria (by hand)", "stage": "Contacted", "contact": "maria@example.com"},
              {"name": "Old – inbound", "stage": "New", "contact": "old@example.com", "tags": ["campaignctl"]},
              {"name": "Walk-in", "stage": "Won", "contact": "walkin@example.com", "tags": ["vip"]}],
}


def card(key: str) -> Address:
    return Address("gary", "card", "sales", key)


@pytest.fixture
def gary(make_project):
    return make_gary(make_project, {"contacts.yaml": CONTACTS, "sales.yaml": SALES}, seed_extra=CRM)


def _pipe_and_card(gary, key):
    pipe = gary.desired.pipelines[0]
    return pipe, next(c for c in pipe.cards if c.contact_id == key)


def test_read_maps_deals_by_contact_with_the_tag_deciding_managed(gary):
    snap = read_with(gary.provider(), gary.desired)
    assert gary.requests() == [("GET", "/crm/pipelines", "limit=200"), ("GET", "/crm/contacts", "limit=200"),
                               ("GET", "/crm/deals", "limit=200&pipeline_id=gp_sales")]
    assert snap.stages == {("gary", "sales"): ("New", "Contacted", "Won")}
    old = card(f"remote:{gary.contact_id('old@example.com')}")
    assert set(snap.cards) == {card("maria"), old}  # declared maria (unmanaged) + an undeclared managed deal
    maria = snap.cards[card("maria")]
    assert (maria.managed, maria.stage, maria.title, maria.archived) == (False, "Contacted", "Maria (by hand)", False)
    assert snap.cards[old].managed and snap.cards[old].stage == "New"
    assert snap.unmanaged_cards == {("gary", "sales"): 2}
    plan = compute_plan(gary.desired, snap)
    actions = {str(c.address): c.action for c in plan.changes}
    assert actions == {str(card("john")): "create", str(card("maria")): "manual"}


def test_create_find_update_a_deal(gary):
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    pipe, john = _pipe_and_card(gary, "john")
    before = len(gary.requests())
    live = provider.create_card(pipe, john, gary.desired.contacts["john"], "campaignctl", seen=seen)
    assert gary.requests(before) == [("POST", "/crm/contacts", ""), ("POST", "/crm/deals", "")]
    assert (live.stage, live.title, live.tags, live.managed, live.description) == ("Contacted", "John – inbound", ("campaignctl",), True, None)
    row = gary.hub.store.collection("garyclub.deals").get(live.remote_id)
    assert (row["primary_contact_id"], row["stage_id"]) == (gary.contact_id("john@example.com"), "gst_contacted")
    assert provider.find_card(pipe, john, gary.desired.contacts["john"], seen=seen) == live

    before = len(gary.requests())
    moved = provider.update_card(pipe, live, CardUpdate(title="John – won", description="Signed", tags=("campaignctl", "won"), stage="Won"), seen=seen)
    assert gary.requests(before) == [("PATCH", f"/crm/deals/{live.remote_id}", "")]
    assert (moved.stage, moved.title, moved.description, moved.tags, moved.managed) == ("Won", "John – won", "Signed", ("campaignctl", "won"), True)
    cleared = provider.update_card(pipe, moved, CardUpdate(description=""), seen=seen)
    assert cleared.description is None and gary.hub.store.collection("garyclub.deals").get(live.remote_id)["description"] is None
    assert provider.update_card(pipe, cleared, CardUpdate(), seen=seen) is cleared  # nothing to send, nothing sent
    assert len(gary.requests()) == before + 2


def test_lost_create_answer_is_unknown_and_find_card_sees_the_deal(gary):
    gary.hub.faults.script.append(Fault("commit_timeout", method="POST", path="/crm/deals$"))
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    pipe, john = _pipe_and_card(gary, "john")
    with pytest.raises(errors.OutcomeUnknown):
        provider.create_card(pipe, john, gary.desired.contacts["john"], "campaignctl", seen=seen)
    found = provider.find_card(pipe, john, gary.desired.contacts["john"], seen=seen)
    assert found is not None and found.managed and found.title == "John – inbound"
    assert len([d for d in gary.hub.store.collection("garyclub.deals").values() if d["name"] == "John – inbound"]) == 1


def test_unknown_pipeline_and_unknown_stage_are_plan_errors(make_project, gary):
    other = make_gary(make_project, {"contacts.yaml": CONTACTS, "sales.yaml": SALES.replace("pipeline: Sales", "pipeline: Nope")})
    with pytest.raises(errors.PlanError) as exc:
        read_with(other.provider(), other.desired)
    assert "'Nope'" in str(exc.value) and "available: 'Sales'" in str(exc.value)

    bad = make_gary(make_project, {"contacts.yaml": CONTACTS, "sales.yaml": SALES.replace("stage: New", "stage: Lead")})
    provider = bad.provider()
    snap = read_with(provider, bad.desired)
    with pytest.raises(errors.PlanError) as exc:
        compute_plan(bad.desired, snap)
    assert "no stage 'Lead'" in str(exc.value) and "New, Contacted, Won" in str(exc.value)
    pipe, maria = _pipe_and_card(bad, "maria")
    with pytest.raises(errors.ValidationFailed) as verr:
        provider.create_card(pipe, maria, bad.desired.contacts["maria"], "campaignctl")
    assert verr.value.code == "unknown_stage"


def test_archive_delete_and_blueprints_are_clear_unsupported_errors(gary):
    provider = gary.provider()
    snap = read_with(provider, gary.desired)
    pipe = gary.desired.pipelines[0]
    live = snap.cards[card("maria")]
    before = len(gary.requests())
    with pytest.raises(errors.ProviderError, match="archive") as exc:
        provider.update_card(pipe, live, CardUpdate(archived=True))
    assert exc.value.code == "unsupported"
    with pytest.raises(errors.ProviderError, match="delete"):
        provider.delete_card(pipe, live)
    with pytest.raises(errors.ProviderError, match="Kalent"):
        provider.find_blueprint(None)
    assert gary.requests(before) == []


def test_plan_apply_plan_converges_and_a_second_apply_sends_nothing(make_project):
    seed = (REPO / "campaigns" / ".sandbox" / "garyclub.yaml").read_text()
    root = make_project({"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE, ".sandbox/garyclub.yaml": seed,
                         "sales.yaml": SALES.replace("stage_policy: enforce", "stage_policy: initial")}, project=PROJECT)
    with open_session(root, env={}) as session:  # the project's persisted sandbox, as the CLI uses it
        with ApplyRun(session, ApplyRequest(review=True)) as run:
            plan = run.prepare().plan
            assert plan is not None
            assert sorted(c.action for c in plan.changes) == ["create", "create", "enroll", "enroll", "enroll"]
            report = run.execute().report
        assert report.ok and report.count("ok") == 5
    hub = open_project_hub(root)
    hub.event("garyclub", "reply", contact="maria@example.com")
    writes = len([r for r in hub.store.requests("garyclub") if r["method"] != "GET"])
    hub.store.close()
    with open_session(root, env={}) as session:
        with ApplyRun(session, ApplyRequest(review=True)) as run:
            prepared = run.prepare()
            assert prepared.live is not None and prepared.plan is not None
            assert prepared.live.memberships[Address("gary", "membership", "nurture", "maria")].status == "paused"
            assert [c for c in prepared.plan.changes if c.executable] == []
            outcome = run.execute()
        assert outcome.nothing_to_apply and outcome.report.results == []
    hub = open_project_hub(root)
    assert len([r for r in hub.store.requests("garyclub") if r["method"] != "GET"]) == writes
    assert sorted(hub.store.sends("garyclub").values()) == [1, 1, 1]
    hub.store.close()
