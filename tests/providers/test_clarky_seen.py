"""Clarky's writes learn what they need of a read only from the `seen` value apply hands them
(contact ids, who is held ambiguously, primary emails, pipelines and stages), never from the
provider instance that read: with a read's `seen`, with none on a fresh provider, and on a fresh
provider given another instance's read, one person gets one Clarky contact and one start."""
# ruff: noqa: F811 - `hub` is the fixture imported from clarky_support

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.providers.base import EnrollRequest
from tests.providers.clarky_support import (  # noqa: F401 - hub is a fixture
    CONTACTS,
    PIPELINES,
    SEQUENCES,
    clarky_config,
    hub,
    log,
    make_provider,
)
from tests.reading import read_with

MARIA_EMAIL = "maria.t@example.com"


@pytest.fixture
def desired(make_project):
    return load_desired(make_project({"contacts.yaml": CONTACTS, "sequences.yaml": SEQUENCES,
                                      "pipelines.yaml": PIPELINES}))


def maria_writes(desired):
    """Maria's card and her membership in `es`: both need her Clarky contact, which does not exist yet."""
    pipe = desired.pipelines[0]
    card = next(c for c in pipe.cards if c.contact_id == "maria")
    seq = next(s for s in desired.sequences if s.id == "es")
    member = next(m for m in seq.members if m.contact_id == "maria")
    return pipe, card, seq, EnrollRequest(member, desired.contacts["maria"])


def contacts_created(hub) -> int:
    return sum(1 for method, path, _ in log(hub) if (method, path) == ("POST", "/contacts"))


def assert_once(hub) -> None:
    """One Clarky contact for Maria, created once, and one start, however often the writes ran."""
    sim = hub.simulators["clarky"]
    holding = [c for c in sim.coll("contacts").values() if MARIA_EMAIL in str(c.get("emails"))]
    assert contacts_created(hub) == 1 and len(holding) == 1
    assert sum(hub.store.sends("clarky").values()) == 1


def test_writes_given_the_read_create_one_contact_and_one_start(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seen = read_with(provider, desired).seen["clarky"]
    assert "maria" in seen.known.absent  # the read found no Clarky contact for her
    pipe, card, seq, request = maria_writes(desired)
    provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl", seen=seen)
    first = provider.enroll(seq, [request], seen=seen)
    again = provider.enroll(seq, [request], seen=seen)  # a keyed replay: the original comes back
    assert first[0].error is None and again[0].live.remote_id == first[0].live.remote_id
    assert seen.known.contact_ids["maria"]  # what the card's write learnt travels with the read
    assert_once(hub)


def test_writes_without_a_read_ask_clarky_and_create_one_contact_and_one_start(hub, desired):
    pipe, card, seq, request = maria_writes(desired)
    provider, _ = make_provider(hub, clarky_config(desired))
    provider.create_card(pipe, card, desired.contacts["maria"], "campaignctl", seen=None)
    first = provider.enroll(seq, [request], seen=None)
    later, _ = make_provider(hub, clarky_config(desired))  # a fresh process, nothing read
    again = later.enroll(seq, [request], seen=None)
    assert first[0].error is None and again[0].live.remote_id == first[0].live.remote_id
    assert_once(hub)


def test_fresh_providers_given_another_instances_read_create_one_contact_and_one_start(hub, desired):
    reader, _ = make_provider(hub, clarky_config(desired))
    seen = read_with(reader, desired).seen["clarky"]
    pipe, card, seq, request = maria_writes(desired)
    carder, _ = make_provider(hub, clarky_config(desired))
    carder.create_card(pipe, card, desired.contacts["maria"], "campaignctl", seen=seen)
    before = len(log(hub))
    enroller, _ = make_provider(hub, clarky_config(desired))
    first = enroller.enroll(seq, [request], seen=seen)
    again = enroller.enroll(seq, [request], seen=seen)
    assert first[0].error is None and again[0].live.remote_id == first[0].live.remote_id
    # The read had found no contact for her; the card's write added the one it created to `seen`,
    # so the enrolling instance neither creates another nor looks her up again.
    assert [(m, p) for m, p, _ in log(hub, before)] == [("POST", "/sequences/start")] * 2
    assert_once(hub)


def test_a_person_the_read_found_held_ambiguously_is_refused_by_a_fresh_provider_given_that_read(
        hub, make_project):
    """One Clarky contact holds the email of one manifest contact and the phone of another: the read says
    so in `seen`, and a fresh provider handed that read sends nothing (alone, it would see one match)."""
    first = load_desired(make_project({"contacts.yaml": CONTACTS, "sequences.yaml": SEQUENCES}))
    setup, _ = make_provider(hub, clarky_config(first))
    setup._person(first.contacts["maria"], None, create=True, cat=setup.catalog)  # email and phone, one contact
    split = ("contacts:\n  - {id: mail, first_name: M, emails: [maria.t@example.com]}\n"
             "  - {id: phone, first_name: P, phone_numbers: [\"+34911234567\"]}\n")
    duo = load_desired(make_project({"contacts.yaml": split, "sequences.yaml": (
        "sequences:\n  - {id: es, provider: clarky, template: tpl_01HABC, members: [mail, phone]}\n")}))
    seq = next(s for s in duo.sequences if s.id == "es")
    member = next(m for m in seq.members if m.contact_id == "mail")
    reader, _ = make_provider(hub, clarky_config(duo))
    snap = read_with(reader, duo)
    assert member.address in snap.conflicts
    writer, _ = make_provider(hub, clarky_config(duo))
    [result] = writer.enroll(seq, [EnrollRequest(member, duo.contacts["mail"])], seen=snap.seen["clarky"])
    assert isinstance(result.error, errors.ConflictError) and result.error.code == "ambiguous_contact"
    assert hub.store.sends("clarky") == {}
