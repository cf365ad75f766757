"""Gary Club's writes learn what they need of a read only from the `seen` value apply hands them (its
sequences and pipelines, matched contact ids, who is held ambiguously, the rosters it listed), and
send every request, lookups included, through their own provider's client: `seen` is plain data,
never the reading instance's client."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.providers.base import CardUpdate
from reconciler.providers.garyclub._read import GarySeen
from tests.providers._gary import CONTACTS, NURTURE, make_gary
from tests.reading import read_with

PIPELINE = """\
pipelines:
  - id: deals
    provider: gary
    pipeline: Sales
    cards:
      - {contact: john, stage: New, title: John – intro}
"""


@pytest.fixture
def gary(make_project):
    return make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE, "deals.yaml": PIPELINE})


def test_seen_holds_no_client(gary):
    seen = read_with(gary.provider(), gary.desired).seen["gary"]
    assert isinstance(seen, GarySeen)
    held = [f.name for f in dataclasses.fields(seen.known)] + [f.name for f in dataclasses.fields(seen)]
    assert "client" not in held and "catalog" not in held


def test_a_fresh_provider_given_another_instances_read_sends_through_its_own_client(gary):
    reader = gary.provider()
    seen = read_with(reader, gary.desired).seen["gary"]
    read_by_reader = reader.request_counts()
    writer = gary.provider()
    pipe = gary.desired.pipelines[0]
    john = pipe.cards[0]

    [res] = writer.enroll(gary.sequence(), [gary.request("john")], seen=seen)
    assert res.error is None
    found = writer.resolve_enrollment(gary.sequence(), gary.request("john"), seen=seen)  # lists the roster again
    assert found is not None and found.remote_id == res.live.remote_id
    live = writer.create_card(pipe, john, gary.desired.contacts["john"], "campaignctl", seen=seen)
    assert writer.find_card(pipe, john, gary.desired.contacts["john"], seen=seen) == live  # lists the deals
    writer.update_card(pipe, live, CardUpdate(title="John – won"), seen=seen)

    assert reader.request_counts() == read_by_reader  # nothing more went through the reading instance
    assert writer.request_counts()["read"] == 2 and writer.request_counts()["write"] == 4
    assert list(gary.sends().values()) == [1]


def test_a_write_given_a_read_works_on_what_it_found_and_adds_what_it_learns(gary):
    seen = read_with(gary.provider(), gary.desired).seen["gary"]
    assert "john" not in seen.known.contact_ids  # Gary held no contact for him when read
    gary.provider().enroll(gary.sequence(), [gary.request("john")], seen=seen)
    assert seen.known.contact_ids["john"] == gary.contact_id("john@example.com")
    before = len(gary.requests())
    [again] = gary.provider().enroll(gary.sequence(), [gary.request("john")], seen=seen)
    assert again.error is not None and again.error.code == "already_enrolled"
    assert gary.requests(before) == []  # the contact and the roster came with the read
    assert list(gary.sends().values()) == [1]
