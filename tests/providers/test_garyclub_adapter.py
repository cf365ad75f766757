"""The Gary Club adapter against the in-process Gary Club sandbox: requests, counts, traps, errors."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler import errors
from reconciler.plan import compute_plan
from reconciler.providers.garyclub import _mapping as _map
from reconciler.read_input import ReadContext
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.snapshot import ACTIVE, FINISHED, PAUSED
from reconciler.state_record import StateRecord
from tests.providers._gary import CONTACTS, KEY, NURTURE, FakeTime, make_gary, membership
from tests.reading import read_with

ENROLL = "/sequences/seq_EXAMPLE_aaaa/enrollments"
EXISTING = {"contacts": [{"email": "maria@example.com", "phone": "+34911234567", "first_name": "Maria"},
                         {"phone": "+34600000001", "first_name": "Ana"}]}


@pytest.fixture
def gary(make_project):
    return make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE}, seed_extra=EXISTING)


def test_capabilities_are_those_the_documented_api_offers(gary):
    caps = gary.provider().capabilities
    assert (caps.can_list_memberships, caps.can_stop_membership, caps.card_kind) == (True, False, "deal")
    assert (caps.can_archive_cards, caps.can_delete_cards, caps.supports_blueprints, caps.enroll_batch_size) == (False, False, False, 1)


def _enroll_behind_our_back(gary, *emails_or_phones: str) -> None:
    sim = gary.hub.simulators["garyclub"]
    seq = gary.hub.store.collection("garyclub.sequences").get("seq_EXAMPLE_aaaa")
    for ident in emails_or_phones:
        sim.enroll(seq, sim._contacts_matching(ident)[0], {})
    gary.hub.store.commit()


def test_read_lists_sequences_contacts_and_enrollments_once_each_at_limit_200(gary):
    _enroll_behind_our_back(gary, "maria@example.com", "+34600000001")
    snap = read_with(gary.provider(), gary.desired)
    assert gary.requests() == [("GET", "/sequences", "limit=200"), ("GET", "/crm/contacts", "limit=200"),
                               ("GET", ENROLL, "limit=200")]
    assert snap.requests == {"gary": 3}
    # matched by email (maria) and by phone (ana, who has no email); john is not in Gary at all
    assert set(snap.memberships) == {membership("maria"), membership("ana")}
    lm = snap.memberships[membership("maria")]
    assert (lm.status, lm.vendor_status, lm.attempt, lm.contact_remote_id) == (ACTIVE, "active", 0, gary.contact_id("maria@example.com"))


def test_reading_1000_members_costs_pages_not_objects_and_the_cache_saves_the_rest(make_project):
    rows = "\n".join(f"b{i:06d},bulk{i:06d}@example.test,bulk" for i in range(1, 1001))
    files = {"bulk.csv": "id,email,tags\n" + rows + "\n", "contacts.yaml": "contact_sources:\n  - csv: bulk.csv\n",
             "nurture.yaml": NURTURE.replace("[inbound]", "[bulk]")}
    bulk = {"bulk": {"contacts": 1000, "enrollments": [{"sequence": "seq_EXAMPLE_aaaa", "count": 1000}]}}
    gary = make_gary(make_project, files, seed_extra=bulk)
    snap = read_with(gary.provider(), gary.desired)
    paths = [p for _, p, _ in gary.requests()]
    assert (paths.count("/crm/contacts"), paths.count(ENROLL), paths.count("/sequences")) == (5, 5, 1)
    assert snap.requests == {"gary": 11}
    assert len(snap.memberships) == 1000 and {m.status for m in snap.memberships.values()} == {ACTIVE}

    # a warm cache knows every contact id: no contact pages at all
    cache = {a: StateRecord(m.remote_id, m.status, m.vendor_status, m.attempt, contact=m.contact_remote_id)
             for a, m in snap.memberships.items()}
    before = len(gary.requests())
    again = read_with(gary.provider(), gary.desired, ReadContext(cache=cache))
    assert [p for _, p, _ in gary.requests(before)] == ["/sequences"] + [ENROLL] * 5
    assert {a: (m.remote_id, m.status) for a, m in again.memberships.items()} == {a: (m.remote_id, m.status) for a, m in snap.memberships.items()}

    # every member known finished (reenroll: never): the enrollments are not read again
    done = {a: dataclasses.replace(e, status=FINISHED, vendor_status="completed", attempt=0) for a, e in cache.items()}
    before = len(gary.requests())
    final = read_with(gary.provider(), gary.desired, ReadContext(cache=done))
    assert gary.requests(before) == [("GET", "/sequences", "limit=200")]
    assert {m.status for m in final.memberships.values()} == {FINISHED} and len(final.memberships) == 1000


def test_enroll_upserts_an_unknown_contact_then_posts_the_enrollment_with_metadata(gary):
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    before = len(gary.requests())
    [res] = provider.enroll(gary.sequence(), [gary.request("john")], seen=seen)
    assert gary.requests(before) == [("POST", "/crm/contacts", ""), ("POST", ENROLL, "")]
    assert res.error is None and res.request_id.startswith("req_")
    assert (res.live.status, res.live.attempt, res.live.address) == (ACTIVE, 0, membership("john"))
    row = gary.hub.store.collection("garyclub.enrollments").get(res.live.remote_id)
    assert row["metadata"] == {"source": "campaignctl"} and row["contact_id"] == gary.contact_id("john@example.com")
    # a contact Gary already has (matched by the read) is not upserted again
    before = len(gary.requests())
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    assert gary.requests(before) == [("POST", ENROLL, "")] and res.live.status == ACTIVE
    assert set(gary.sends().values()) == {1}


def test_paused_on_reply_is_satisfied_and_never_posted_again(gary):
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    gary.hub.event("garyclub", "reply", contact="maria@example.com")

    provider = gary.provider()
    snap = read_with(provider, gary.desired)
    seen = snap.seen["gary"]  # the writes work on what this read saw
    lm = snap.memberships[membership("maria")]
    assert (lm.status, lm.vendor_status, lm.reason) == (PAUSED, "paused", "reply_received")
    plan = compute_plan(gary.desired, snap)
    assert [c.action for c in plan.changes if c.address == membership("maria")] == []

    before = len(gary.requests())
    for attempt in (0, 1):  # neither a first enrollment nor a "retry" may post over a paused one
        [res] = provider.enroll(gary.sequence(), [gary.request("maria", attempt=attempt)], seen=seen)
        assert isinstance(res.error, errors.ConflictError) and res.error.code == "already_enrolled"
        assert "paused" in str(res.error) and res.live is None
    assert gary.requests(before) == []
    assert list(gary.sends().values()) == [1]


def test_a_fresh_process_without_a_read_still_checks_before_posting(gary):
    gary.provider().enroll(gary.sequence(), [gary.request("maria")])
    gary.hub.event("garyclub", "reply", contact="maria@example.com")
    before = len(gary.requests())
    [res] = gary.provider().enroll(gary.sequence(), [gary.request("maria")])
    assert isinstance(res.error, errors.ConflictError)
    assert [(m, p) for m, p, _ in gary.requests(before)] == [("GET", "/sequences"), ("POST", "/crm/contacts"), ("GET", ENROLL)]
    assert list(gary.sends().values()) == [1]


def test_lost_answer_after_commit_is_unknown_then_resolved_by_reading(gary):
    gary.hub.faults.script.append(Fault("commit_timeout", method="POST", path="/enrollments$"))
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    assert isinstance(res.error, errors.OutcomeUnknown) and res.live is None
    assert [r["outcome"] for r in gary.log() if r["method"] == "POST"] == ["committed_then_dropped"]

    before = len(gary.requests())
    [again] = provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)  # in doubt: never re-sent blind
    assert isinstance(again.error, errors.ConflictError) and gary.requests(before) == []

    found = provider.resolve_enrollment(gary.sequence(), gary.request("maria"), seen=seen)
    assert gary.requests(before) == [("GET", ENROLL, "limit=200")]
    assert (found.status, found.attempt, found.address) == (ACTIVE, 0, membership("maria"))
    assert found.remote_id in gary.hub.store.collection("garyclub.enrollments")
    assert gary.provider().resolve_enrollment(gary.sequence(), gary.request("maria"), seen=seen).remote_id == found.remote_id
    assert list(gary.sends().values()) == [1]


def test_dropped_connection_before_sending_is_retried_and_sends_once(gary):
    gary.hub.faults.script.append(Fault("drop", method="POST", path="/enrollments$"))
    [res] = gary.provider().enroll(gary.sequence(), [gary.request("maria")])
    assert res.live is not None and res.live.status == ACTIVE
    assert [r["outcome"] for r in gary.log() if r["path"].endswith("/enrollments") and r["method"] == "POST"] == ["dropped", "ok"]
    assert list(gary.sends().values()) == [1]


def test_5xx_on_the_enrollment_post_is_in_doubt_and_resolves_absent(gary):
    gary.hub.faults.script.append(Fault("status", status=503, method="POST", path="/enrollments$"))
    provider = gary.provider()
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")])
    assert isinstance(res.error, errors.OutcomeUnknown) and res.error.status == 503
    assert [r["method"] for r in gary.log()].count("POST") == 2  # the upsert, then ONE enrollment POST
    assert provider.resolve_enrollment(gary.sequence(), gary.request("maria")) is None
    assert gary.sends() == {}


def test_reenrollment_after_finished_is_a_deliberate_next_attempt(gary):
    provider = gary.provider()
    provider.enroll(gary.sequence(), [gary.request("maria")])
    gary.hub.event("garyclub", "cancel", contact="maria@example.com")
    snap = read_with(provider, gary.desired)
    seen = snap.seen["gary"]  # the writes work on what this read saw
    assert snap.memberships[membership("maria")].status == FINISHED
    [stale] = provider.enroll(gary.sequence(), [gary.request("maria", attempt=2)], seen=seen)
    assert isinstance(stale.error, errors.ConflictError) and "expected 2" in str(stale.error)
    [res] = provider.enroll(gary.sequence(), [gary.request("maria", attempt=1)], seen=seen)
    assert (res.live.status, res.live.attempt) == (ACTIVE, 1)
    latest = read_with(provider, gary.desired).memberships[membership("maria")]
    assert (latest.attempt, latest.remote_id) == (1, res.live.remote_id)
    assert list(gary.sends().values()) == [2]


def test_unknown_sequence_names_the_available_ones(make_project):
    gary = make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE.replace("Post-call nurture", "Nope")})
    with pytest.raises(errors.PlanError) as exc:
        read_with(gary.provider(), gary.desired)
    assert "'Nope'" in str(exc.value) and "'Post-call nurture'" in str(exc.value) and "'Webinar follow-up'" in str(exc.value)
    assert "nurture.yaml" in str(exc.value)


def test_sequence_by_id_and_draft_sequence_warns_and_refuses_without_sending(make_project):
    files = {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE.replace('"Post-call nurture"', "seq_EXAMPLE_cccc")}
    gary = make_gary(make_project, files)
    provider = gary.provider()
    snap = read_with(provider, gary.desired)
    seen = snap.seen["gary"]  # the writes work on what this read saw
    assert any("'Reactivation (draft)'" in w and "draft" in w for w in snap.warnings)
    before = len(gary.requests())
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    assert isinstance(res.error, errors.ValidationFailed) and res.error.code == "sequence_not_active"
    assert gary.requests(before) == [] and gary.sends() == {}


def _check(err: errors.ProviderError, cls: type, status: int, code: str, method: str, path: str) -> None:
    assert type(err) is cls, err
    assert (err.vendor, err.method, err.path, err.status, err.code) == ("gary", method, path, status, code)
    assert err.request_id and err.request_id.startswith("req_")
    assert KEY not in str(err) and "SECRET" not in str(err)


@pytest.mark.parametrize("key, code", [("gc_live_sandbox_revoked", "revoked_api_key"), ("gc_live_sandbox_expired", "expired_api_key"),
                                       ("gc_live_SECRET", "invalid_api_key")])
def test_401s_are_auth_errors_without_the_key(gary, key, code):
    with pytest.raises(errors.AuthError) as exc:
        read_with(gary.provider(key), gary.desired)
    _check(exc.value, errors.AuthError, 401, code, "GET", "/sequences")
    assert key not in str(exc.value)


def test_unknown_client_is_404_not_found(gary):
    with pytest.raises(errors.NotFoundError) as exc:
        read_with(gary.provider(client_id="00000000-0000-0000-0000-000000000000"), gary.desired)
    _check(exc.value, errors.NotFoundError, 404, "not_found", "GET", "/sequences")


@pytest.mark.parametrize("status, cls", [(403, errors.AuthError), (404, errors.NotFoundError), (409, errors.ConflictError),
                                         (422, errors.ValidationFailed), (400, errors.ValidationFailed)])
def test_envelope_errors_on_the_enrollment_post_are_typed(gary, status, cls):
    gary.hub.faults.script.append(Fault("status", status=status, method="POST", path="/enrollments$"))
    [res] = gary.provider().enroll(gary.sequence(), [gary.request("maria")])
    _check(res.error, cls, status, "injected_fault", "POST", ENROLL)
    assert gary.sends() == {}


def test_invalid_contact_field_is_validation_failed_naming_the_field(gary):
    from dataclasses import replace

    bad = replace(gary.request("john"), contact=replace(gary.desired.contacts["john"], phone_numbers=("12345",)))
    [res] = gary.provider().enroll(gary.sequence(), [bad])
    _check(res.error, errors.ValidationFailed, 400, "invalid_request", "POST", "/crm/contacts")
    assert res.error.details == {"field": "phone"}


def test_429_waits_retry_after_then_succeeds(make_project):
    gary = make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE},
                     seed_extra={"config": {"rate_limits": {"requests_per_minute": 2}}})
    time = FakeTime(gary.hub)
    read_with(gary.provider(time=time), gary.desired)
    statuses = [r["status"] for r in gary.log()]
    assert statuses.count(429) >= 1 and statuses[-1] == 200 and len([s for s in statuses if s == 200]) == 3
    assert max(time.slept) >= 1


def test_429_and_5xx_after_retries_are_typed(make_project):
    gary = make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE},
                     seed_extra={"config": {"rate_limits": {"requests_per_minute": 1}}})
    # a clock that never advances the sandbox: the limit never lifts, so retries run out
    provider = gary.provider(time=_Frozen(gary.hub))
    read_with(gary.provider(), gary.desired)  # uses the only request of the window
    with pytest.raises(errors.RateLimitedError) as exc:
        read_with(provider, gary.desired)
    _check(exc.value, errors.RateLimitedError, 429, "rate_limited", "GET", "/sequences")
    assert exc.value.retry_after and exc.value.retry_after > 0

    faults = FaultPlan(error_rate=1.0, error_status=502, only=Fault("status", method="GET"))
    broken = make_gary(make_project, {"contacts.yaml": CONTACTS, "nurture.yaml": NURTURE}, faults=faults)
    with pytest.raises(errors.ServerError) as exc:
        read_with(broken.provider(), broken.desired)
    _check(exc.value, errors.ServerError, 502, "injected_fault", "GET", "/sequences")
    assert len(broken.requests()) == 5  # retried, then given up


class _Frozen(FakeTime):
    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_client_key_never_sends_the_client_header_and_agency_key_acts_as_the_client(make_project):
    gary = make_gary(make_project, {"sales.yaml": "pipelines:\n  - {id: sales, provider: gary, pipeline: Sales}\n"})
    client = "5b0c3c9e-6f1a-4a59-9d59-2f6c8e1f0a11"
    as_client = read_with(gary.provider("cl_live_sandbox_acme_dental", client_id=client), gary.desired)
    as_agency = read_with(gary.provider(KEY, client_id=client), gary.desired)
    own = read_with(gary.provider(KEY), gary.desired)
    assert as_client.stages == as_agency.stages == {("gary", "sales"): ("New", "Contacted", "Won")}
    assert own.stages == {("gary", "sales"): ("New", "Contacted", "Won")}
    deal_queries = [q for _, p, q in gary.requests() if p == "/crm/deals"]
    assert deal_queries[0] == deal_queries[1] != deal_queries[2] == "limit=200&pipeline_id=gp_sales"


def test_a_removed_member_still_enrolled_is_read_from_its_cached_address(gary):
    _enroll_behind_our_back(gary, "maria@example.com")
    maria_id = gary.contact_id("maria@example.com")
    orphan = membership("someone-removed")
    cache = {orphan: StateRecord("enr_x", ACTIVE, "active", contact=maria_id)}
    # maria is also a declared member: the manifest key wins; the orphan address maps the same remote contact
    snap = read_with(gary.provider(), gary.desired, ReadContext(cache=cache))
    assert membership("maria") in snap.memberships and orphan not in snap.memberships

    lonely = {orphan: StateRecord("enr_x", ACTIVE, "active", contact="con_gone")}
    sim = gary.hub.simulators["garyclub"]
    sim.enroll(gary.hub.store.collection("garyclub.sequences").get("seq_EXAMPLE_aaaa"), "con_gone", {})
    gary.hub.store.commit()
    snap = read_with(gary.provider(), gary.desired, ReadContext(cache=lonely))
    assert snap.memberships[orphan].status == ACTIVE and snap.memberships[orphan].contact_remote_id == "con_gone"
    plan = compute_plan(gary.desired, snap)
    assert [c.action for c in plan.changes if c.address == orphan] == ["manual"]


def test_a_stale_copy_is_listed_again_before_posting(gary):
    provider = gary.provider()
    seen = read_with(provider, gary.desired).seen["gary"]
    _enroll_behind_our_back(gary, "maria@example.com")  # someone else enrolls her after our read ...
    gary.hub.event("garyclub", "reply", contact="maria@example.com")  # ... and she replies
    provider.RECHECK_SECONDS = 0.0  # the read is now "older" than the re-check window
    before = len(gary.requests())
    [res] = provider.enroll(gary.sequence(), [gary.request("maria")], seen=seen)
    assert isinstance(res.error, errors.ConflictError) and "paused" in str(res.error)
    assert gary.requests(before) == [("GET", ENROLL, "limit=200")]
    assert list(gary.sends().values()) == [1]


@pytest.mark.parametrize("status, reason, neutral, unreachable", [
    ("active", None, ACTIVE, False), ("waiting", None, ACTIVE, False), ("paused", "reply_received", PAUSED, False),
    ("completed", None, FINISHED, False), ("cancelled", None, FINISHED, False), ("failed", "carrier_error", "failed", False),
    ("failed", "invalid_phone", "failed", True), ("mystery", None, ACTIVE, False)])
def test_status_mapping(status, reason, neutral, unreachable):
    row = {"id": "enr_1", "contact_id": "con_1", "status": status, "paused_reason": reason, "enrolled_at": "2026-01-01T00:00:00.000Z"}
    lm = _map.to_membership(membership("x"), [{"id": "enr_0", "enrolled_at": "2025-01-01T00:00:00.000Z"}, row], "now")
    assert (lm.status, lm.unreachable, lm.reason, lm.attempt, lm.remote_id) == (neutral, unreachable, reason, 1, "enr_1")
