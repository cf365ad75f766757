"""One person, one set of identifiers: the canonical forms validate, matching and renames compare."""

from __future__ import annotations

import pytest

from reconciler.identity import canonical_email, canonical_phone, identifiers
from reconciler.model import Contact
from reconciler.model import Address, Membership
from reconciler.providers.base import EnrollRequest
from tests.providers.kalent_support import desired, hub, kalent_seq, make_provider
from tests.reading import read_with

__all__ = ["hub", "desired"]  # fixtures


@pytest.mark.parametrize("written", [
    "ana@example.com", " Ana@Example.COM ", "\u200bana@example.com\ufeff", "ana@EXAMPLE.com.",
])
def test_an_email_written_any_of_these_ways_is_one_address(written):
    assert canonical_email(written) == "ana@example.com"


def test_an_idn_domain_in_unicode_or_ascii_form_and_nfd_or_nfc_is_one_address():
    nfd = "jose\u0301@mu\u0308ller.de"  # combining accents
    nfc = "jos\u00e9@m\u00fcller.de"
    assert canonical_email(nfd) == canonical_email(nfc) == canonical_email("JOS\u00c9@xn--mller-kva.de")
    assert canonical_email(nfc).endswith("@xn--mller-kva.de")


@pytest.mark.parametrize("written", ["+34911234567", "+34 911 234 567", "+34-911-234-567", "(+34) 911.234.567",
                                     "0034911234567", "\u200b+34911234567 "])
def test_a_phone_written_with_separators_is_its_e164_form(written):
    assert canonical_phone(written) == "+34911234567"


def test_a_person_is_every_identifier_they_have_in_order_without_repeats():
    contact = Contact("maria", emails=("Maria@Example.com", "m@work.example", "maria@example.com"),
                      phone_numbers=("+34911234567",), kalent_candidate_id="cand_1")
    assert contact.identifiers == ("email:maria@example.com", "email:m@work.example", "phone:+34911234567",
                                   "kalent:cand_1")
    assert identifiers([], ["+34 911 234 567"], None) == ("phone:+34911234567",)


def test_one_candidate_twice_in_one_kalent_start_is_started_once(hub, desired):
    """Case 2: two members with one candidate id in one start call. validate refuses it; the adapter
    still never puts a candidate into a start twice."""
    provider = make_provider(hub, desired)
    seq = kalent_seq(desired)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(next(b for b in desired.blueprints if b.provider == "kalent"))
    a = Membership(Address("kalent", "membership", seq.id, "one"), seq.id, None, "cand_789")
    b = Membership(Address("kalent", "membership", seq.id, "two"), seq.id, None, "cand_789")
    results = provider.enroll(seq, [EnrollRequest(a, None), EnrollRequest(b, None)], seen=seen)
    by_address = {r.address.key: r for r in results}
    assert by_address["one"].error is None and by_address["one"].live is not None
    assert by_address["two"].error is not None and by_address["two"].live is None
    sends = {k: n for k, n in hub.store.sends("kalent").items() if k[2] == "cand_789"}
    assert list(sends.values()) == [1]
