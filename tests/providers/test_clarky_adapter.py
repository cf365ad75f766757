"""The Clarky adapter against the in-process Clarky simulator: keyed starts, resolves that cannot send
twice, membership reads from the state cache, typed errors. Cards: test_clarky_cards.py."""
# ruff: noqa: F811 - `hub` is the fixture imported from clarky_support

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.model import Address, Contact
from reconciler.providers.base import EnrollRequest
from reconciler.read_input import ReadContext
from reconciler.providers.clarky import ClarkyProvider, idempotency_key
from reconciler.sandbox.core import Fault
from reconciler.snapshot import ACTIVE, FAILED, FINISHED
from reconciler.state_record import StateRecord
from tests.providers.clarky_support import (  # noqa: F401 - hub is a fixture
    CONTACTS, KEY, SEQUENCES, clarky_config, hub, log, make_hub, make_provider, sim_contact)
from tests.reading import read_with

START = "/sequences/start"


@pytest.fixture
def desired(make_project):
    return load_desired(make_project({"contacts.yaml": CONTACTS, "sequences.yaml": SEQUENCES}))


def seq_and_request(desired, seq_id: str, contact_id: str, attempt: int = 0):
    seq = next(s for s in desired.sequences if s.id == seq_id)
    member = next(m for m in seq.members if m.contact_id == contact_id)
    return seq, EnrollRequest(member, desired.contacts[contact_id], attempt)


def ago(minutes: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_capabilities_declare_what_clarky_cannot_do():
    caps = ClarkyProvider.capabilities
    assert (caps.can_list_memberships, caps.can_stop_membership, caps.card_kind) == (False, False, "card")
    assert (caps.can_archive_cards, caps.can_delete_cards, caps.supports_blueprints, caps.enroll_batch_size) == (True, True, False, 1)


LOOKUP_MARIA = [("GET", "/contacts/by-email", "email=maria.t@example.com"),
                ("GET", "/contacts", "page=1&page_size=100&search=+34911234567")]


def test_enroll_creates_the_contact_with_notes_then_sends_one_keyed_start_without_them(hub, desired):
    """The person is matched on every email and phone first; Clarky has none, so the contact is created
    (it sends nothing, and carries the notes) and the start is keyed on Clarky's own contact id."""
    provider, rec = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    assert result.error is None and result.live is not None
    assert (result.live.status, result.live.vendor_status, result.live.attempt) == (ACTIVE, "generating", 0)
    assert result.live.remote_id.startswith("enr_") and result.live.contact_remote_id.startswith("c_")
    assert log(hub) == [*LOOKUP_MARIA, ("POST", "/contacts", ""), ("POST", START, "")]
    [created] = rec.bodies("POST", "/contacts")
    assert created["notes"] == "Speaks Spanish." and created["bot_id"] == "b_01HDEF"
    [body] = rec.bodies("POST", START)
    assert body == {
        "template_id": "tpl_01HABC", "auto_approve": False,
        "idempotency_key": idempotency_key("tpl_01HABC", result.live.contact_remote_id, 0),
        "contact": {"first_name": "Maria", "last_name": "García", "emails": ["maria.t@example.com"],
                    "phone_numbers": ["+34911234567"], "company": "Acme Spain"},
    }
    assert hub.store.sends("clarky") == {("clarky", "tpl_01HABC", result.live.contact_remote_id): 1}


def test_idempotency_key_is_deterministic_and_names_only_template_clarky_contact_and_attempt():
    key = idempotency_key("tpl_01HABC", "c_00000001", 0)
    assert key == idempotency_key("tpl_01HABC", "c_00000001", 0)
    assert key.startswith("campaignctl-") and len(key) == len("campaignctl-") + 32
    assert idempotency_key("tpl_01HABC", "c_00000001", 1) != key
    assert idempotency_key("tpl_OTHER", "c_00000001", 0) != key
    assert idempotency_key("tpl_01HABC", "c_00000002", 0) != key


def test_two_provider_instances_send_the_same_key_and_enroll_once(hub, desired):
    config = clarky_config(desired)
    first, rec1 = make_provider(hub, config)
    renamed, rec2 = make_provider(hub, config, name="clarky-eu")  # a renamed provider, a new run
    seq, req = seq_and_request(desired, "es", "maria")
    [a] = first.enroll(seq, [req])
    [b] = renamed.enroll(seq, [req])
    key1 = rec1.bodies("POST", START)[0]["idempotency_key"]
    assert key1 == rec2.bodies("POST", START)[0]["idempotency_key"]
    assert a.live.remote_id == b.live.remote_id
    assert list(hub.store.sends("clarky").values()) == [1]


def test_template_without_bot_gets_the_provider_bot_after_one_refusal_then_directly(hub, desired):
    provider, rec = make_provider(hub, clarky_config(desired))
    seq, john = seq_and_request(desired, "en", "john")
    _, otto = seq_and_request(desired, "en", "otto")
    [r1] = provider.enroll(seq, [john])
    [r2] = provider.enroll(seq, [otto])
    assert r1.live is not None and r2.live is not None
    # otto is suppressed: his start answers `failed`, and its reason is read once
    starts = [r for r in hub.store.requests("clarky") if r["path"].endswith(START)]
    assert [r["status"] for r in starts] == [400, 202, 202]
    assert log(hub)[-1] == ("GET", f"/sequences/enrollments/{r2.live.remote_id}", "")
    assert (r2.live.status, r2.live.reason, r2.live.unreachable) == ("failed", "no_usable_channels", True)
    bodies = rec.bodies("POST", START)
    assert "bot_id" not in bodies[0] and bodies[1]["bot_id"] == bodies[2]["bot_id"] == "b_01HDEF"
    assert bodies[0]["idempotency_key"] == bodies[1]["idempotency_key"]
    assert sum(hub.store.sends("clarky").values()) == 2


def test_a_new_contact_without_any_bot_id_is_a_validation_error_before_any_write(hub, desired):
    """The contact is created before its first start (so the start is keyed on Clarky's contact id),
    and creating one needs a bot: without any, nothing is written at all."""
    provider, _ = make_provider(hub, clarky_config(desired), bot_id=None)
    seq, john = seq_and_request(desired, "en", "john")
    [result] = provider.enroll(seq, [john])
    assert isinstance(result.error, errors.ValidationFailed) and result.error.code == "no_bot_id"
    assert "bot_id" in str(result.error) and [m for m, _, _ in log(hub)] == ["GET"] * len(log(hub))
    assert hub.store.sends("clarky") == {}


def test_enroll_then_resolve_sends_once_and_no_start_carries_notes(hub, desired):
    provider, rec = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    start = len(log(hub))
    found = provider.resolve_enrollment(seq, req, sent_at=ago(1))
    assert found is not None and found.remote_id == result.live.remote_id
    assert (found.status, found.attempt, found.address) == (ACTIVE, 0, req.membership.address)
    assert log(hub, start) == [("POST", START, ""), ("GET", f"/sequences/enrollments/{found.remote_id}", "")]
    first, replay = rec.bodies("POST", START)
    assert "notes" not in first["contact"] and "notes" not in replay["contact"]
    assert replay["idempotency_key"] == first["idempotency_key"]
    assert sum(hub.store.sends("clarky").values()) == 1
    assert sim_contact(hub, "maria.t@example.com")["notes"] == "Speaks Spanish."  # appended once


def test_a_lost_contact_create_is_settled_by_reading_and_the_start_follows_once(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    hub.faults.script.append(Fault("commit_timeout", method="POST", path="/api/v1/contacts"))
    [result] = provider.enroll(seq, [req])
    assert result.error is None and result.live is not None
    assert [(m, p) for m, p, _ in log(hub)].count(("POST", "/contacts")) == 1  # a create is never re-sent blind
    assert sum(hub.store.sends("clarky").values()) == 1
    found = provider.resolve_enrollment(seq, req, sent_at=ago(0))
    assert found is not None and found.remote_id.startswith("enr_")
    assert sum(hub.store.sends("clarky").values()) == 1
    assert sim_contact(hub, "maria.t@example.com")["notes"] == "Speaks Spanish."


def test_a_start_is_retried_by_the_client_and_still_sends_once(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    hub.faults.script.append(Fault("commit_timeout", method="POST", path="/api/v1" + START))
    [result] = provider.enroll(seq, [req])
    assert result.live is not None and result.live.attempt == 0
    assert [p for _, p, _ in log(hub)].count(START) == 2
    assert sum(hub.store.sends("clarky").values()) == 1


def test_a_keyed_start_whose_retries_run_out_on_5xx_is_outcome_unknown_not_failed(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    retry = EnrollRequest(req.membership, req.contact, attempt=1)  # no notes: retried by the client
    path = "/api/v1" + START
    hub.faults.script.extend([Fault("commit_timeout", method="POST", path=path)]
                             + [Fault("status", status=503, method="POST", path=path)] * 4)
    [result] = provider.enroll(seq, [retry])
    assert isinstance(result.error, errors.OutcomeUnknown) and result.error.status == 503
    assert [p for _, p, _ in log(hub)].count(START) == 5
    assert sum(hub.store.sends("clarky").values()) == 1  # the first one committed
    found = provider.resolve_enrollment(seq, retry, sent_at=ago(1))
    assert found is not None and sum(hub.store.sends("clarky").values()) == 1


def test_resolve_without_a_clarky_contact_is_certainly_absent_and_sends_nothing(hub, desired):
    """The contact is created before its first start: no contact, no start can have arrived."""
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    assert provider.resolve_enrollment(seq, req) is None
    assert [m for m, _, _ in log(hub)] == ["GET", "GET"] and hub.store.sends("clarky") == {}


def test_resolve_of_a_start_that_never_arrived_is_the_one_start(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    provider._person(req.contact, None, create=True, cat=provider.catalog)  # the contact was created, the start then lost
    found = provider.resolve_enrollment(seq, req)
    assert found is not None and found.status == ACTIVE
    again = provider.resolve_enrollment(seq, req)
    assert again.remote_id == found.remote_id
    assert sum(hub.store.sends("clarky").values()) == 1


def test_a_member_without_email_or_phone_is_refused_before_any_request(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [EnrollRequest(req.membership, None)])
    assert isinstance(result.error, errors.ValidationFailed) and result.error.code == "no_contact"
    assert log(hub) == []


# -- reading memberships --------------------------------------------------------------------------
def cache_entry(remote_id: str, status: str, vendor_status: str, *, observed: str, attempt: int = 0, **facts):
    return StateRecord(remote_id, status, vendor_status, attempt, observed, **facts)


def matched(desired, *contact_ids: str) -> dict[Address, StateRecord]:
    """State rows of Clarky contact ids an earlier run matched (so a read need not look them up)."""
    return {Address("clarky", "contact", "contacts", cid):
            StateRecord(f"c_{cid}", "active", person=tuple(desired.contacts[cid].identifiers))
            for cid in contact_ids}


def test_read_without_cache_matches_the_members_to_enroll_once_and_remembers_them(hub, desired):
    """Members the plan would enroll are matched on every email and phone (so a person Clarky holds twice
    plans `manual`); what was matched is remembered, so a later read asks nothing."""
    provider, _ = make_provider(hub, clarky_config(desired))
    snap = read_with(provider, desired)
    assert snap.memberships == {} and snap.conflicts == {}
    assert log(hub) and all(m == "GET" and p.startswith("/contacts") for m, p, _ in log(hub))
    assert snap.requests == {"clarky": len(log(hub))}


def test_warm_read_of_final_and_fresh_memberships_sends_no_status_read(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    a_maria, a_john, a_otto = (Address("clarky", "membership", s, c) for s, c in (("es", "maria"), ("en", "john"), ("en", "otto")))
    cache = {
        a_maria: cache_entry("enr_1", FINISHED, "stopped_reply", observed=ago(10_000), contact="c_9", reason="stopped_reply"),
        a_otto: cache_entry("enr_2", FAILED, "failed", observed=ago(10_000), reason="no_usable_channels", unreachable=True),
        a_john: cache_entry("enr_3", ACTIVE, "running", observed=ago(1)),
    }
    snap = read_with(provider, desired, ReadContext(cache=cache))
    assert log(hub) == [] and snap.requests == {"clarky": 0}
    assert (snap.memberships[a_maria].status, snap.memberships[a_maria].reason) == (FINISHED, "stopped_reply")
    assert snap.memberships[a_maria].contact_remote_id == "c_9"
    assert snap.memberships[a_otto].unreachable is True
    # not re-stamped: None (taken from the state, not read now) keeps the state's last read time, so it
    # stays stale in time (the one state -> membership converter, StateRecord.membership, for every vendor)
    assert snap.memberships[a_john].observed_at is None


def test_stale_or_refreshed_active_memberships_are_read_once_each(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    addr = req.membership.address
    provider, _ = make_provider(hub, clarky_config(desired))  # a new run: nothing memoised from the enroll
    others = matched(desired, "john", "otto")
    start = len(log(hub))
    fresh = {addr: cache_entry(result.live.remote_id, ACTIVE, "generating", observed=ago(1), attempt=0), **others}
    assert read_with(provider, desired, ReadContext(cache=fresh)).requests == {"clarky": 0}
    stale = {addr: cache_entry(result.live.remote_id, ACTIVE, "generating", observed=ago(20)), **others}
    hub.simulators["clarky"].clock.advance(3600)  # generation done, the draft awaits approval
    snap = read_with(provider, desired, ReadContext(cache=stale))
    assert log(hub, start) == [("GET", f"/sequences/enrollments/{result.live.remote_id}", "")]
    assert (snap.memberships[addr].vendor_status, snap.memberships[addr].status) == ("pending_approval", ACTIVE)
    assert snap.memberships[addr].observed_at is not None and snap.memberships[addr].since is not None
    snap = read_with(provider, desired, ReadContext(cache=fresh, refresh=True))
    assert snap.requests == {"clarky": 1}


@pytest.mark.parametrize("event, vendor_status, status, reason", [
    ("reply", "stopped_reply", FINISHED, "stopped_reply"),
    ("unsubscribe", "stopped_unsubscribed", FINISHED, "stopped_unsubscribed"),
    ("stop", "stopped_user", FINISHED, "stopped_user"),
])
def test_vendor_statuses_map_to_neutral_ones(hub, desired, event, vendor_status, status, reason):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    hub.event("clarky", event, contact="maria.t@example.com")
    cache = {req.membership.address: cache_entry(result.live.remote_id, ACTIVE, "generating", observed=ago(60))}
    lm = read_with(provider, desired, ReadContext(cache=cache)).memberships[req.membership.address]
    assert (lm.vendor_status, lm.status, lm.reason, lm.unreachable) == (vendor_status, status, reason, False)


def test_suppressed_contact_fails_as_unreachable(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "en", "otto")  # optout@example.com is suppressed in the seed
    [result] = provider.enroll(seq, [req])
    found = provider.resolve_enrollment(seq, req)
    assert (found.status, found.reason, found.unreachable) == (FAILED, "no_usable_channels", True)
    assert result.live.remote_id == found.remote_id


def test_orphaned_cached_memberships_are_reported_for_the_planner(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    orphan = Address("clarky", "membership", "retired-sequence", "maria")
    other = Address("gary", "membership", "retired-sequence", "maria")
    cache = {orphan: cache_entry(result.live.remote_id, ACTIVE, "generating", observed=ago(60)),
             other: cache_entry("gary-enr", ACTIVE, "active", observed=ago(60))}
    snap = read_with(provider, desired, ReadContext(cache=cache))
    assert set(snap.memberships) == {orphan}
    assert snap.memberships[orphan].remote_id == result.live.remote_id


def test_a_cached_enrollment_clarky_no_longer_knows_keeps_its_status_with_a_warning(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    addr = Address("clarky", "membership", "es", "maria")
    snap = read_with(provider, desired, ReadContext(cache={addr: cache_entry("enr_gone", ACTIVE, "running", observed=ago(60))}))
    assert snap.memberships[addr].vendor_status == "running"
    assert "enr_gone" in snap.warnings[0]


# -- errors -----------------------------------------------------------------------------------------
def assert_context(exc: errors.ProviderError, cls: type, status: int, code: str, method: str, path: str, key: str = KEY):
    assert isinstance(exc, cls), exc
    assert (exc.vendor, exc.method, exc.path, exc.status, exc.code) == ("clarky", method, path, status, code)
    assert exc.request_id and exc.request_id.startswith("req_")
    assert key not in str(exc) and key not in repr(exc) and key not in repr(exc.__dict__)


def test_401_for_a_bad_key_is_an_auth_error_without_the_key(hub, desired):
    bad = "not-a-clarky-key-SECRET-123456"
    provider, _ = make_provider(hub, clarky_config(desired), key=bad)
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    assert_context(result.error, errors.AuthError, 401, "unauthorized", "GET", "/contacts/by-email", key=bad)
    assert bad not in repr(provider)


def test_403_for_a_read_only_key_on_a_write(hub, desired):
    hub.simulators["clarky"].config["keys"] = {KEY: ["read"]}
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(seq, [req])
    assert_context(result.error, errors.AuthError, 403, "forbidden", "POST", "/contacts")


def test_404_for_an_unknown_template(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    [result] = provider.enroll(dataclasses.replace(seq, target="tpl_nope"), [req])
    assert_context(result.error, errors.NotFoundError, 404, "not_found", "POST", START)
    assert "tpl_nope" in str(result.error)


def test_422_for_a_contact_clarky_rejects(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    seq, req = seq_and_request(desired, "es", "maria")
    bad = EnrollRequest(req.membership, Contact("maria", emails=("not an email",)))
    [result] = provider.enroll(seq, [bad])
    assert_context(result.error, errors.ValidationFailed, 422, "validation_error", "POST", "/contacts")
    assert result.error.details == {"field": "emails"}


def test_429_after_retries_is_rate_limited_with_retry_after(desired):
    hub = make_hub(rate_limits=True, config={"rate_limits": {"reads_per_minute": 1, "writes_per_minute": 60}})
    try:
        provider, _ = make_provider(hub, clarky_config(desired))
        addr = Address("clarky", "membership", "es", "maria")
        cache = {addr: cache_entry("enr_x", ACTIVE, "running", observed=ago(60)), **matched(desired, "john", "otto")}
        read_with(provider, desired, ReadContext(cache=cache))  # the one read this minute allows (a 404)
        with pytest.raises(errors.RateLimitedError) as caught:
            read_with(provider, desired, ReadContext(cache=cache))
        assert_context(caught.value, errors.RateLimitedError, 429, "rate_limited", "GET", "/sequences/enrollments/enr_x")
        assert caught.value.retry_after and caught.value.retry_after > 0
    finally:
        hub.store.close()


def test_5xx_on_a_read_after_retries_is_a_server_error_and_on_a_write_outcome_unknown(hub, desired):
    provider, _ = make_provider(hub, clarky_config(desired))
    addr = Address("clarky", "membership", "es", "maria")
    hub.faults.script.extend([Fault("status", status=500, method="GET")] * 5)
    with pytest.raises(errors.ServerError) as caught:
        read_with(provider, desired, ReadContext(cache={addr: cache_entry("enr_x", ACTIVE, "running", observed=ago(60))}))
    assert_context(caught.value, errors.ServerError, 500, "injected_fault", "GET", "/sequences/enrollments/enr_x")
    seq, req = seq_and_request(desired, "es", "maria")
    provider._person(req.contact, None, create=True, cat=provider.catalog)
    hub.faults.script.extend([Fault("status", status=503, method="POST")] * 5)
    [result] = provider.enroll(seq, [req])
    assert_context(result.error, errors.OutcomeUnknown, 503, "injected_fault", "POST", START)


def test_notes_reach_clarky_once_across_sequences_of_the_same_contact(hub, make_project):
    two = SEQUENCES + "  - id: es2\n    provider: clarky\n    template: tpl_01HNUR\n    members: [maria]\n"
    desired = load_desired(make_project({"contacts.yaml": CONTACTS, "sequences.yaml": two}))
    provider, rec = make_provider(hub, clarky_config(desired))
    for seq_id in ("es", "es2"):
        seq, req = seq_and_request(desired, seq_id, "maria")
        [result] = provider.enroll(seq, [req])
        assert result.live is not None
    assert all("notes" not in body["contact"] for body in rec.bodies("POST", START))
    assert [body["notes"] for body in rec.bodies("POST", "/contacts")] == ["Speaks Spanish."]
    assert sim_contact(hub, "maria.t@example.com")["notes"] == "Speaks Spanish."
