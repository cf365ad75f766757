"""A read keeps nothing on its provider: what the writes need travels in the value it returns
(LiveSnapshot.seen), which apply hands back. So a write by a provider that never read, given another
instance's read, does exactly what the reading instance would have done, and a write given no read
asks the vendor instead of trusting what an earlier read in the same process happened to leave."""

from __future__ import annotations

import pytest

from reconciler.providers.base import EnrollRequest
from tests.providers._gary import CONTACTS, NURTURE, make_gary
from tests.providers.kalent_support import desired, hub, kalent_seq, make_provider, sent  # noqa: F401 - fixtures
from tests.reading import read_with


def test_a_kalent_start_uses_the_targets_of_the_read_it_is_handed(hub, desired):  # noqa: F811 - fixtures
    reader = make_provider(hub, desired)
    seen = read_with(reader, desired).seen["kalent"]
    writer = make_provider(hub, desired)  # never read anything
    writer.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    results = writer.enroll(seq, [EnrollRequest(m, None) for m in seq.members], seen=seen)
    assert all(r.error is None and r.live is not None for r in results), results
    assert set(hub.store.sends("kalent").values()) == {1} and len(hub.store.sends("kalent")) == 3


def test_a_kalent_start_without_a_read_does_not_borrow_an_earlier_one(hub, desired):  # noqa: F811 - fixtures
    provider = make_provider(hub, desired)
    read_with(provider, desired)  # a read in the same process, not handed to the write
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    results = provider.enroll(seq, [EnrollRequest(m, None) for m in seq.members])
    # a manifest blueprint is matched by name in its sourcing only by a read: without one, nothing is sent
    assert all(r.live is None and r.error is not None and "Nothing was sent" in str(r.error) for r in results)
    assert hub.store.sends("kalent") == {}


@pytest.fixture
def gary(make_project):
    return make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE})


def test_a_gary_enrollment_uses_the_contacts_and_roster_of_the_read_it_is_handed(gary):
    seen = read_with(gary.provider(), gary.desired).seen["gary"]
    writer = gary.provider()
    before = len(gary.requests())
    [res] = writer.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    assert res.error is None and res.live is not None
    # the read looked the contacts up and listed the roster moments ago: nothing is read again, only
    # written (the contact upsert for a person Gary did not hold, then the enrollment)
    assert [(m, p) for m, p, _ in gary.requests(before)] == [("POST", "/crm/contacts"),
                                                            ("POST", "/sequences/seq_EXAMPLE_aaaa/enrollments")]


def test_a_gary_enrollment_without_a_read_looks_the_person_and_the_roster_up_first(gary):
    provider = gary.provider()
    read_with(provider, gary.desired)  # not handed to the write
    before = len(gary.requests())
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")])
    assert res.error is None and res.live is not None
    paths = [p for _, p, _ in gary.requests(before)]
    assert paths[-1] == "/sequences/seq_EXAMPLE_aaaa/enrollments" and "/sequences" in paths[:-1]
    assert paths.count("/sequences/seq_EXAMPLE_aaaa/enrollments") == 2  # listed before the POST
