"""The registry: the built-in vendors on first use, `register` / `unregister` for another, and the
views the core reads (person ids, drift's status words) following what is registered."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from reconciler.model import Contact
from reconciler.providers import SANDBOX_KEYS, registry, vendors
from reconciler.providers.spec import PersonIds, Stall
from tests.architecture.relay.spec import SPEC


@pytest.fixture
def relay():
    vendors.register(SPEC)
    yield SPEC
    vendors.unregister(SPEC.name)


def test_the_built_in_vendors_are_registered_in_order():
    assert vendors.names()[:3] == ("clarky", "garyclub", "kalent")
    assert vendors.spec("kalent").person_ids is not None and vendors.find("nobody") is None
    with pytest.raises(KeyError, match="unknown vendor type 'nobody'"):
        vendors.spec("nobody")


def test_a_registered_vendor_is_everywhere_the_core_looks_and_gone_after_unregister(relay):
    assert vendors.names()[-1] == "relay" and vendors.spec("relay") is relay
    assert registry()["relay"].__name__ == "RelayProvider" and SANDBOX_KEYS["relay"] == relay.sandbox_key
    assert vendors.stalls()["queued"].kind == "stuck_queued"
    vendors.unregister("relay")
    assert "relay" not in vendors.names() and "queued" not in vendors.stalls() and "relay" not in SANDBOX_KEYS
    vendors.register(relay)  # the fixture removes it again


def test_a_name_is_registered_once(relay):
    vendors.register(relay)  # the same spec again is harmless
    with pytest.raises(ValueError, match="already registered"):
        vendors.register(dataclasses.replace(relay, title="Other"))


def test_a_status_word_means_one_thing_across_vendors():
    """Drift reads a vendor status without knowing its vendor: two meanings for one word are refused."""
    clash = dataclasses.replace(SPEC, name="clash", stalls={"generating": Stall("slow", timedelta(minutes=1), "slow")})
    with pytest.raises(ValueError, match="status 'generating' already means"):
        vendors.register(clash)
    assert "clash" not in vendors.names()


def test_a_vendor_person_id_becomes_a_contact_key_and_an_identifier():
    people = PersonIds(contact_key="relay_person_id", scheme="relay", noun="relay id",
                       contact_schema={"type": "string"})
    spec = dataclasses.replace(SPEC, name="relay-people", person_ids=people)
    with pytest.raises(TypeError, match="relay_person_id"):
        Contact("ana", emails=("ana@example.com",), relay_person_id="r1")
    vendors.register(spec)
    try:
        ana = Contact("ana", emails=("ana@example.com",), relay_person_id="r1")
        assert ana.person_id("relay_person_id") == "r1" and ana.value("relay_person_id") == "r1"
        assert ana.identifiers == ("email:ana@example.com", "relay:r1")
    finally:
        vendors.unregister(spec.name)
