"""The Clarky adapter's pipeline cards against the in-process simulator: exact reads and their
counts, contact resolution, create / find / update / delete, unknown pipelines and stages."""
# ruff: noqa: F811 - `hub` is the fixture imported from clarky_support

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.model import Address, Blueprint
from reconciler.providers.base import CardUpdate
from reconciler.read_input import ReadContext
from reconciler.snapshot import LiveSnapshot
from reconciler.state_record import StateRecord
from tests.providers.clarky_support import CONTACTS, PIPELINES, clarky_config, hub, log, make_hub, make_provider  # noqa: F401 - hub is a fixture
from tests.reading import read_with

CARDS_QUERY = "include_archived=true&page={}&page_size=100&pipeline_id=p_01HPLA"
HEAD = [("GET", "/pipelines", "page=1&page_size=100"), ("GET", "/pipelines/p_01HPLA/stages", "")]
MARIA = Address("clarky", "card", "sales", "maria")
ADA = Address("clarky", "card", "sales", "ada")


@pytest.fixture
def desired(make_project):
    return load_desired(make_project({"contacts.yaml": CONTACTS, "pipelines.yaml": PIPELINES}))


def warm_cache(snap: LiveSnapshot) -> dict[Address, StateRecord]:
    """What the engine remembers after a read (engine.remember)."""
    now = datetime.now(timezone.utc).isoformat()
    return {a: StateRecord(c.remote_id, "active", c.stage, 0, now, contact=c.contact_remote_id)
            for a, c in snap.cards.items()}


def sales_cards(hub) -> int:
    sim = hub.simulators["clarky"]
    return sum(1 for c in sim.coll("cards").values() if sim.coll("stages").get(c["pipeline_stage_id"])["pipeline_id"] == "p_01HPLA")


def card_of(desired, contact_id: str):
    pipe = desired.pipelines[0]
    return pipe, next(c for c in pipe.cards if c.contact_id == contact_id)


def test_cold_read_lists_cards_once_and_looks_up_the_few_declared_contacts(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    snap = read_with(provider, desired)
    assert log(hub) == HEAD + [("GET", "/pipeline-cards", CARDS_QUERY.format(1)),
                               ("GET", "/contacts/by-email", "email=ada@example.com"),
                               ("GET", "/contacts/by-email", "email=maria.t@example.com"),
                               ("GET", "/contacts", "page=1&page_size=100&search=+34911234567")]  # every identifier
    assert snap.requests == {"clarky": 6}
    assert snap.stages == {("clarky", "sales"): ("Lead", "Qualified", "Closed Won")}
    assert set(snap.cards) == {ADA}  # Ada's hand-made card, declared but untagged
    ada = snap.cards[ADA]
    assert (ada.remote_id, ada.stage, ada.managed, ada.archived, ada.tags) == ("pc_01HCRD", "Lead", False, False, ("renewal",))
    assert (ada.title, ada.description, ada.contact_remote_id) == ("Acme Corp – renewal", "Renewal due in Q2", "c_01HXYZ")
    assert snap.unmanaged_cards == {("clarky", "sales"): sales_cards(hub)}


def test_warm_read_needs_no_contact_lookup(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    cache = warm_cache(read_with(provider, desired))
    start = len(log(hub))
    again, _ = make_provider(hub, clarky_config(desired))
    snap = read_with(again, desired, ReadContext(cache=cache))
    assert log(hub, start) == HEAD + [("GET", "/pipeline-cards", CARDS_QUERY.format(1))]
    assert set(snap.cards) == {ADA}


def test_reading_n_cards_costs_ceil_n_over_100_list_requests(make_project):
    rows = "\n".join(f"bulk{i},Bulk,Contact {i},bulk-{i:08d}@example.com,Bulk Co {i},bulk" for i in range(1, 121))
    root = make_project({
        "leads.csv": "id,first_name,last_name,email,company,tags\n" + rows + "\n",
        "contacts.yaml": "contact_sources:\n  - csv: leads.csv\n",
        "pipelines.yaml": ('pipelines:\n  - id: sales\n    provider: clarky\n    pipeline: "Sales Pipeline"\n'
                           '    cards:\n      - for_each: {tags_any: [bulk]}\n        stage: Lead\n'
                           '        title: "{company}"\n'),
    })
    desired = load_desired(root)
    hub = make_hub(bulk={"contacts": 250, "cards": 250, "card_tags": ["campaignctl"]})
    try:
        provider, _ = make_provider(hub, clarky_config(desired))
        snap = read_with(provider, desired)
        pages = math.ceil(sales_cards(hub) / 100)
        assert pages == 3
        assert log(hub) == HEAD + [("GET", "/pipeline-cards", CARDS_QUERY.format(p)) for p in range(1, pages + 1)] + [
            ("GET", "/contacts", f"bot_id=b_01HDEF&page={p}&page_size=100") for p in (1, 2)]  # all 120 found by page 2
        assert len([a for a in snap.cards if not a.key.startswith("remote:")]) == 120
        assert all(snap.cards[Address("clarky", "card", "sales", f"bulk{i}")].managed for i in range(1, 121))
        assert len(snap.cards) == 250  # the other 130 managed cards: undeclared contacts, for pruning
        start = len(log(hub))
        warm, _ = make_provider(hub, clarky_config(desired))
        read_with(warm, desired, ReadContext(cache=warm_cache(snap)))
        assert log(hub, start) == HEAD + [("GET", "/pipeline-cards", CARDS_QUERY.format(p)) for p in range(1, pages + 1)]
    finally:
        hub.store.close()


def test_create_card_creates_the_contact_then_a_tagged_card(hub, desired):
    provider, rec = make_provider(hub, clarky_config(desired))
    seen = read_with(provider, desired).seen["clarky"]
    start = len(log(hub))
    pipe, card = card_of(desired, "maria")
    live = provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl", seen=seen)
    assert log(hub, start) == [("POST", "/contacts", ""), ("POST", "/pipeline-cards", "")]  # read knew maria was absent
    contact_body = rec.bodies("POST", "/contacts")[0]
    assert contact_body["bot_id"] == "b_01HDEF" and contact_body["emails"] == ["maria.t@example.com"]
    assert rec.bodies("POST", "/pipeline-cards")[0] == {
        "pipeline_stage_id": "ps_01HSTA", "title": "Maria – inbound", "contact_id": live.contact_remote_id,
        "tags": ["campaignctl", "inbound"], "description": "Call in the morning"}
    assert (live.address, live.stage, live.managed, live.archived) == (MARIA, "Lead", True, False)
    fresh, _ = make_provider(hub, clarky_config(desired))
    snap = read_with(fresh, desired)
    assert snap.cards[MARIA].remote_id == live.remote_id and snap.cards[MARIA].managed


def test_create_card_never_duplicates_a_card_the_read_could_not_see(hub, desired):
    config = clarky_config(desired)
    pipe, card = card_of(desired, "maria")
    first, _ = make_provider(hub, config)
    created = first.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    start = len(log(hub))
    second, _ = make_provider(hub, config)  # no read: it asks for the contact's cards first
    again = second.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    assert again.remote_id == created.remote_id
    assert [m for m, _, _ in log(hub, start)] == ["GET"] * 5  # pipelines, stages, email, phone, the contact's cards


def test_create_card_for_a_contact_with_an_untagged_card_is_a_conflict(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "ada")
    with pytest.raises(errors.ConflictError) as caught:
        provider.create_card(pipe, card, desired.contacts["ada"], "campaignctl")
    assert caught.value.code == "card_exists" and "pc_01HCRD" in str(caught.value)
    assert all(m == "GET" for m, _, _ in log(hub))


def test_find_card_is_read_only_and_none_when_absent(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "maria")
    assert provider.find_card(pipe, card, desired.contacts["maria"]) is None
    assert log(hub) == [HEAD[0], ("GET", "/contacts/by-email", "email=maria.t@example.com"),
                        ("GET", "/contacts", "page=1&page_size=100&search=+34911234567")]
    provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    start = len(log(hub))
    found = provider.find_card(pipe, card, desired.contacts["maria"])
    assert found is not None and found.address == MARIA and found.managed
    assert log(hub, start) == [("GET", "/pipeline-cards",
                                f"contact_id={found.contact_remote_id}&include_archived=true&page=1&page_size=100&pipeline_id=p_01HPLA")]


def test_update_card_patches_only_the_changes(hub, desired):
    provider, rec = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "maria")
    live = provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    moved = provider.update_card(pipe, live, CardUpdate(title="New", description="", tags=("campaignctl", "x"),
                                                        stage="Qualified"))
    assert rec.bodies("PATCH", f"/pipeline-cards/{live.remote_id}")[0] == {
        "title": "New", "description": "", "tags": ["campaignctl", "x"], "pipeline_stage_id": "ps_01HSTB"}
    assert (moved.title, moved.description, moved.tags, moved.stage, moved.managed) == ("New", None, ("campaignctl", "x"), "Qualified", True)
    archived = provider.update_card(pipe, moved, CardUpdate(archived=True))
    body = rec.bodies("PATCH", f"/pipeline-cards/{live.remote_id}")[1]
    assert list(body) == ["archived_at"] and body["archived_at"].endswith("Z")
    assert archived.archived and archived.stage == "Qualified"
    restored = provider.update_card(pipe, archived, CardUpdate(archived=False))
    assert rec.bodies("PATCH", f"/pipeline-cards/{live.remote_id}")[2] == {"archived_at": None}
    assert not restored.archived
    stored = hub.simulators["clarky"].coll("cards").get(live.remote_id)
    assert (stored["title"], stored["pipeline_stage_id"], stored["archived_at"]) == ("New", "ps_01HSTB", None)
    assert provider.update_card(pipe, restored, CardUpdate()) is restored  # nothing to send


def test_delete_card_and_a_second_delete_is_done(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "maria")
    live = provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    provider.delete_card(pipe, live)
    provider.delete_card(pipe, live)
    assert [r["status"] for r in hub.store.requests("clarky") if r["method"] == "DELETE"] == [204, 404]
    assert hub.simulators["clarky"].coll("cards").get(live.remote_id) is None


def test_a_card_moved_by_a_person_reads_back_in_its_new_stage(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "maria")
    live = provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    hub.event("clarky", "move_card", card_id=live.remote_id, stage="Closed Won")
    fresh, _ = make_provider(hub, clarky_config(desired))
    assert read_with(fresh, desired).cards[MARIA].stage == "Closed Won"


def test_two_cards_for_one_contact_read_as_the_managed_one_with_a_warning(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "ada")
    sim = hub.simulators["clarky"]
    sim.new_card({"pipeline_stage_id": "ps_01HSTB", "title": "Ada managed", "contact_id": "c_01HXYZ", "tags": ["campaignctl"]})
    sim.store.commit()
    snap = read_with(provider, desired)
    assert snap.cards[ADA].title == "Ada managed" and snap.cards[ADA].stage == "Qualified"
    assert "pc_01HCRD" in snap.warnings[0]


def test_unknown_pipeline_is_a_plan_error_naming_the_available_ones(hub, make_project):
    desired = load_desired(make_project({"contacts.yaml": CONTACTS,
                                         "pipelines.yaml": PIPELINES.replace("Sales Pipeline", "Sales Pipe")}))
    provider, _ = make_provider(hub, clarky_config(desired))
    with pytest.raises(errors.PlanError) as caught:
        read_with(provider, desired)
    assert "'Sales Pipe'" in str(caught.value) and "'Sales Pipeline', 'Partnerships'" in str(caught.value)
    pipe, card = card_of(desired, "maria")
    with pytest.raises(errors.ValidationFailed) as write:
        provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    assert write.value.code == "unknown_pipeline"


def test_pipeline_named_by_id_or_other_case_resolves(hub, make_project):
    desired = load_desired(make_project({"contacts.yaml": CONTACTS,
                                         "pipelines.yaml": PIPELINES.replace('"Sales Pipeline"', "sales pipeline")}))
    provider, _ = make_provider(hub, clarky_config(desired))
    assert read_with(provider, desired).stages[("clarky", "sales")][0] == "Lead"


def test_unknown_stage_on_create_or_move_is_refused_before_any_write(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    pipe, card = card_of(desired, "maria")
    bad = card.__class__(card.address, card.pipeline_id, card.contact_id, "Negotiation", card.title)
    with pytest.raises(errors.ValidationFailed) as caught:
        provider.create_card(pipe, bad, desired.contacts["maria"], "campaignctl")
    assert caught.value.code == "unknown_stage"
    assert "'Negotiation'" in str(caught.value) and "Lead, Qualified, Closed Won" in str(caught.value)
    live = provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl")
    with pytest.raises(errors.ValidationFailed):
        provider.update_card(pipe, live, CardUpdate(stage="Negotiation"))
    assert [m for m, _, _ in log(hub)].count("PATCH") == 0


def test_blueprints_are_not_a_clarky_thing(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    bp = Blueprint(Address("clarky", "blueprint", "x", "y"), "y", "clarky", "x", "Y")
    for call in (lambda: provider.create_blueprint(bp), lambda: provider.find_blueprint(bp),
                 lambda: provider.update_blueprint(bp, None)):
        with pytest.raises(errors.ProviderError) as caught:
            call()
        assert caught.value.code == "unsupported" and "blueprint" in str(caught.value)
    assert log(hub) == [] and provider.request_counts() == {"read": 0, "write": 0}
    provider.close()


def test_a_phone_only_contact_is_found_by_phone_search(hub, desired):
    from reconciler.model import Card, Contact

    provider, rec = make_provider(hub, clarky_config(desired))
    pipe = desired.pipelines[0]
    liam = Contact("liam", first_name="Liam", phone_numbers=("+442071234567",))
    card = Card(Address("clarky", "card", "sales", "liam"), "sales", "liam", "Lead", "Liam – partner")
    live = provider.create_card(pipe, card, liam, "campaignctl")
    assert ("GET", "/contacts", "page=1&page_size=100&search=+442071234567") in log(hub)
    assert rec.bodies("POST", "/contacts")[0]["phone_numbers"] == ["+442071234567"]
    fresh, _ = make_provider(hub, clarky_config(desired))
    found = fresh.find_card(pipe, card, liam)
    assert found is not None and found.remote_id == live.remote_id


def test_a_long_contact_list_switches_to_lookups_by_email(make_project):
    rows = "\n".join(f"b{i},bulk-{i:08d}@example.com,bulk" for i in range(900, 908))
    root = make_project({
        "leads.csv": "id,email,tags\n" + rows + "\n",
        "contacts.yaml": "contact_sources:\n  - csv: leads.csv\n",
        "pipelines.yaml": ('pipelines:\n  - id: sales\n    provider: clarky\n    pipeline: "Sales Pipeline"\n'
                           '    cards:\n      - for_each: {tags_any: [bulk]}\n        stage: Lead\n        title: "{email}"\n'),
    })
    desired = load_desired(root)
    hub = make_hub(bulk={"contacts": 1000})
    try:
        provider, _ = make_provider(hub, clarky_config(desired))
        snap = read_with(provider, desired)  # Ada's card has a contact nobody knows yet: resolve
        contact_reads = [q for m, p, q in log(hub) if p.startswith("/contacts")]
        assert contact_reads[0] == "bot_id=b_01HDEF&page=1&page_size=100"  # 8 > 5: try the list first ...
        assert contact_reads[1:] == [f"email=bulk-{i:08d}@example.com" for i in range(900, 908)]  # ... 10 more pages > 8
        assert snap.seen["clarky"].known.contact_ids == {f"b{i}": f"c_B{i:08d}" for i in range(900, 908)}
    finally:
        hub.store.close()
