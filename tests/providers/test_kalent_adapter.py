"""The Kalent adapter against the in-process Kalent simulator: requests sent, counts, statuses, traps."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.engine import remember, remember_membership
from reconciler.model import Address, Blueprint, DesiredState, Membership, Sequence
from reconciler.plan import blueprint_view, compute_plan
from reconciler.providers import unpaced
from reconciler.providers.base import EnrollRequest, ReadContext
from reconciler.providers.kalent import KalentProvider
from reconciler.sandbox.core import Fault
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED
from reconciler.state import StateStore

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
KEY = "kalent_live_SECRETSECRETSECRET000000"
BULK = [f"cand_bulk_{i:05d}" for i in range(1, 251)]
DAY = 86400.0
STEPS = ({"id": "invite", "name": "Invite", "type": "LINKEDIN", "linkedInType": "LINKEDIN_INVITATION",
          "temporalityType": "ASAP"},
         {"id": "mail-1", "name": "Mail", "type": "EMAIL", "subject": "Hi {{firstname}}", "content": "Hello",
          "temporalityType": "DELAYED", "delay": {"value": 2, "unit": "day"}})


class FakeTime:
    """Sleep and monotonic clock for the HTTP client: retries and pacing cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def hub():
    seed = load_seed(EXAMPLE)
    kalent = seed["kalent"]
    kalent["config"] = {**kalent.get("config", {}), "dispatch_delay": "5m"}
    kalent["sourcings"] = [*kalent["sourcings"], {"id": "src_bulk", "name": "Bulk hiring",
                                                  "bulk_candidates": {"count": 250, "prefix": "cand_bulk_"}}]
    hub = build_hub(None, seed, rate_limits=False)
    yield hub
    hub.store.close()


@pytest.fixture
def desired() -> DesiredState:
    return load_desired(EXAMPLE)


def make_provider(hub, desired: DesiredState, *, key: str = KEY, **overrides) -> KalentProvider:
    config = dataclasses.replace(unpaced(desired.project.providers["kalent"]), **overrides)
    fake = FakeTime()
    provider = KalentProvider(config, key, transport=SandboxTransport(hub, "kalent"), sleep=fake.sleep, clock=fake.clock)
    provider.fake_time = fake  # type: ignore[attr-defined]
    return provider


def sent(hub, since: int = 0) -> list[tuple[str, str, str]]:
    return [(r["method"], r["path"], r["query"]) for r in hub.store.requests("kalent")[since:]]


def advance(hub, seconds: float) -> None:
    hub.simulators["kalent"].clock.advance(seconds)


def bulk_state(desired: DesiredState, candidates=BULK, *, target: str = "bulk-bp") -> DesiredState:
    bp = Blueprint(Address("kalent", "blueprint", "bulk-hiring", "bulk-bp"), "bulk-bp", "kalent", "Bulk hiring",
                   "Bulk outreach", STEPS)
    seq = Sequence(id="bulk", provider="kalent", provider_type="kalent", target=target, sourcing="Bulk hiring",
                   members=tuple(Membership(Address("kalent", "membership", "bulk", c), "bulk", None, c) for c in candidates))
    return dataclasses.replace(desired, blueprints=(bp,), sequences=(seq,))


def kalent_seq(desired: DesiredState) -> Sequence:
    return next(s for s in desired.sequences if s.provider == "kalent")


def enroll_all(provider: KalentProvider, seq: Sequence):
    size = provider.capabilities.enroll_batch_size
    members = [EnrollRequest(m, None) for m in seq.members]
    results = []
    for i in range(0, len(members), size):
        results.extend(provider.enroll(seq, members[i:i + size]))
    return results


# -- read ------------------------------------------------------------------------------------------
def test_cold_read_lists_at_max_page_size_and_reads_each_candidate_once(hub, desired):
    provider = make_provider(hub, desired)
    snap = provider.read(desired, ReadContext())
    assert sent(hub) == [
        ("GET", "/api/v1/sourcings", "page=0&pageSize=50"),
        ("GET", "/api/v1/sourcings/src_backend/sequence-blueprints", "page=0&pageSize=50"),
        ("GET", "/api/v1/candidates/cand_123/dynamic-sequence", ""),
        ("GET", "/api/v1/candidates/cand_789/dynamic-sequence", ""),
        ("GET", "/api/v1/candidates/cand_456/dynamic-sequence", ""),
    ]
    assert snap.blueprints == {} and snap.memberships == {}
    assert snap.requests == {"kalent": 5}
    plan = compute_plan(desired, snap)
    assert sorted(c.action for c in plan.changes if c.provider == "kalent") == ["create", "enroll", "enroll", "enroll"]


def test_unknown_sourcing_is_a_plan_error_naming_the_ones_that_exist(hub, desired):
    bad = dataclasses.replace(desired, blueprints=(dataclasses.replace(desired.blueprints[0], sourcing="Data Lead"),))
    with pytest.raises(errors.PlanError) as info:
        make_provider(hub, desired).read(bad, ReadContext())
    assert "'Data Lead'" in str(info.value) and "'Senior Backend Engineer' (src_backend)" in str(info.value)
    assert "'Frontend Lead' (src_frontend)" in str(info.value)


def test_unknown_blueprint_target_is_a_plan_error(hub, desired):
    seq = dataclasses.replace(kalent_seq(desired), target="bp_nope")
    with pytest.raises(errors.PlanError, match="blueprint 'bp_nope' is neither declared"):
        make_provider(hub, desired).read(dataclasses.replace(desired, sequences=(seq,)), ReadContext())


def test_sequence_may_target_a_kalent_blueprint_id(hub, desired):
    provider = make_provider(hub, desired)
    live = provider.create_blueprint(desired.blueprints[0])
    seq = dataclasses.replace(kalent_seq(desired), target=live.remote_id)
    state = dataclasses.replace(desired, blueprints=(), sequences=(seq,))
    results = provider.enroll(seq, [EnrollRequest(seq.members[0], None)])
    assert results[0].live is not None and results[0].live.status == ACTIVE
    advance(hub, 600)
    snap = make_provider(hub, desired).read(state, ReadContext())
    assert snap.memberships[seq.members[0].address].remote_id is not None
    assert snap.memberships[seq.members[0].address].conflict is None


# -- enroll ----------------------------------------------------------------------------------------
def test_250_candidates_start_in_three_calls_and_each_is_sent_once(hub, desired):
    state = bulk_state(desired)
    provider = make_provider(hub, desired)
    provider.read(state, ReadContext())
    provider.create_blueprint(state.blueprints[0])
    mark = len(hub.store.requests("kalent"))
    results = enroll_all(provider, state.sequences[0])
    starts = [r for r in hub.store.requests("kalent")[mark:]]
    assert [(r["method"], r["path"]) for r in starts] == [("POST", "/api/v1/sequence-blueprints/bp_00000001/start")] * 3
    assert all(r.live is not None and r.live.status == ACTIVE and r.error is None for r in results)
    assert {r.live.contact_remote_id for r in results} == set(BULK)
    sends = hub.store.sends("kalent")
    assert len(sends) == 250 and set(sends.values()) == {1}


def test_batch_over_100_is_refused_before_sending(hub, desired):
    state = bulk_state(desired)
    provider = make_provider(hub, desired)
    with pytest.raises(ValueError, match="at most 100"):
        provider.enroll(state.sequences[0], [EnrollRequest(m, None) for m in state.sequences[0].members[:101]])
    assert sent(hub) == []


def test_cold_read_is_one_status_read_per_candidate_and_warm_final_read_is_zero(hub, desired, tmp_path):
    state = bulk_state(desired)
    setup = make_provider(hub, desired)
    setup.read(state, ReadContext())
    setup.create_blueprint(state.blueprints[0])
    enroll_all(setup, state.sequences[0])
    advance(hub, 10 * 60)

    mark = len(hub.store.requests("kalent"))
    snap = make_provider(hub, desired).read(state, ReadContext())
    status_reads = [r for r in hub.store.requests("kalent")[mark:] if r["path"].endswith("/dynamic-sequence")]
    assert len(status_reads) == 250 and snap.requests["kalent"] == 250 + 2  # + sourcings + blueprints
    assert {lm.status for lm in snap.memberships.values()} == {ACTIVE}

    for cand in BULK[:10]:
        hub.event("kalent", "reply", candidate=cand)
    advance(hub, 8 * DAY)  # every sequence completes (mail after two days, invite unanswered after seven)
    store = StateStore(tmp_path / "state.db")
    snap = make_provider(hub, desired).read(state, ReadContext(cache=store.cache(), refresh=True))
    remember(store, snap)
    finished = [lm for lm in snap.memberships.values() if lm.status == FINISHED]
    assert len(finished) == 250
    assert sorted(lm.reason for lm in finished)[:10] == ["completed"] * 10
    assert sum(lm.reason == "talent_replied" for lm in finished) == 10

    mark = len(hub.store.requests("kalent"))
    warm = make_provider(hub, desired).read(state, ReadContext(cache=store.cache(), refresh=True))
    status_reads = [r for r in hub.store.requests("kalent")[mark:] if r["path"].endswith("/dynamic-sequence")]
    assert status_reads == [] and warm.requests["kalent"] == 2
    assert {lm.status for lm in warm.memberships.values()} == {FINISHED}
    assert all(lm.observed_at is None for lm in warm.memberships.values())
    store.close()


def test_fresh_active_cache_is_not_re_read_but_stale_one_is(hub, desired, tmp_path):
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    provider.create_blueprint(desired.blueprints[0])
    enroll_all(provider, kalent_seq(desired))
    advance(hub, 600)
    store = StateStore(tmp_path / "state.db")
    remember(store, make_provider(hub, desired).read(desired, ReadContext()))

    mark = len(hub.store.requests("kalent"))
    make_provider(hub, desired).read(desired, ReadContext(cache=store.cache()))
    assert not [r for r in sent(hub, mark) if r[1].endswith("/dynamic-sequence")]
    stale = make_provider(hub, desired, status_refresh_minutes=0.0)
    mark = len(hub.store.requests("kalent"))
    stale.read(desired, ReadContext(cache=store.cache()))
    assert len([r for r in sent(hub, mark) if r[1].endswith("/dynamic-sequence")]) == 3
    store.close()


def test_statuses_map_to_neutral_ones(hub, desired):
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    enroll_all(provider, seq)
    advance(hub, 600)
    hub.event("kalent", "pause", candidate="cand_123")
    hub.event("kalent", "error", candidate="cand_456", reason="linkedin_profile_unreachable")
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    snap = make_provider(hub, desired).read(desired, ReadContext())
    by_cand = {lm.contact_remote_id: lm for lm in snap.memberships.values()}
    assert (by_cand["cand_123"].status, by_cand["cand_123"].vendor_status) == (PAUSED, "PAUSED")
    assert (by_cand["cand_456"].status, by_cand["cand_456"].reason, by_cand["cand_456"].unreachable) == \
        (FAILED, "linkedin_profile_unreachable", True)
    assert (by_cand["cand_789"].status, by_cand["cand_789"].unreachable) == (FAILED, False)
    plan = compute_plan(desired, snap)
    actions = {str(c.address): c.action for c in plan.changes if c.provider == "kalent"}
    assert actions == {"kalent.membership[backend-outreach][cand_789]": "retry",
                       "kalent.membership[backend-outreach][tom-becker]": "skip"}


def test_candidate_started_on_another_blueprint_is_a_conflict_never_an_enroll(hub, desired, tmp_path):
    provider = make_provider(hub, desired)
    other = dataclasses.replace(desired.blueprints[0], id="other", name="Made in the UI", steps=STEPS)
    other_live = provider.create_blueprint(other)
    provider.create_blueprint(desired.blueprints[0])
    other_seq = dataclasses.replace(kalent_seq(desired), id="ui", target=other_live.remote_id)
    provider.enroll(other_seq, [EnrollRequest(m, None) for m in other_seq.members if m.candidate_id == "cand_456"])
    advance(hub, 600)

    snap = make_provider(hub, desired).read(desired, ReadContext())
    tom = snap.memberships[Address("kalent", "membership", "backend-outreach", "tom-becker")]
    assert tom.conflict and "'Made in the UI'" in tom.conflict and "cand_456" in tom.conflict
    plan = compute_plan(desired, snap)
    tom_change = next(c for c in plan.changes if c.address == tom.address)
    assert tom_change.action == "skip"
    # remembered, the conflict survives a warm read within the refresh window
    store = StateStore(tmp_path / "state.db")
    remember(store, snap)
    warm = make_provider(hub, desired).read(desired, ReadContext(cache=store.cache()))
    assert warm.memberships[tom.address].conflict
    assert hub.store.sends("kalent") == {("kalent", other_live.remote_id, "cand_456"): 1}
    store.close()


def test_cached_orphans_are_included(hub, desired, tmp_path):
    store = StateStore(tmp_path / "state.db")
    gone = Address("kalent", "membership", "old-seq", "cand_790")
    store.remember(gone, "dseq_x", status=ACTIVE, vendor_status="SCHEDULED", extra={"contact": "cand_790"},
                   observed_at="2020-01-01T00:00:00.000000Z")
    snap = make_provider(hub, desired).read(desired, ReadContext(cache=store.cache()))
    assert snap.memberships[gone].status == ACTIVE and snap.memberships[gone].remote_id == "dseq_x"
    assert any(c.address == gone and c.action == "manual" for c in compute_plan(desired, snap).changes)
    store.close()


# -- lost answers ----------------------------------------------------------------------------------
def test_commit_then_timeout_makes_every_member_unknown_and_reading_resolves_it(hub, desired):
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    hub.faults.script.append(Fault("commit_timeout", method="POST", path=r"/start$"))
    requests = [EnrollRequest(m, None) for m in seq.members]
    results = provider.enroll(seq, requests)
    assert len(results) == 3 and all(isinstance(r.error, errors.OutcomeUnknown) and r.live is None for r in results)
    starts = [r for r in hub.store.requests("kalent") if r["path"].endswith("/start")]
    assert len(starts) == 1  # never re-sent
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(errors.OutcomeUnknown, match="asynchronously"):
        provider.resolve_enrollment(seq, requests[0], sent_at=now)
    advance(hub, 11 * 60)
    found = [provider.resolve_enrollment(seq, r, sent_at=now) for r in requests]
    assert all(lm is not None and lm.status == ACTIVE and lm.remote_id and not lm.conflict for lm in found)
    assert set(hub.store.sends("kalent").values()) == {1} and len(hub.store.sends("kalent")) == 3


def test_resolve_finds_nothing_after_the_settle_window(hub, desired):
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    request = EnrollRequest(seq.members[0], None)  # a start that never reached Kalent
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(errors.OutcomeUnknown):
        provider.resolve_enrollment(seq, request, sent_at=now)
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert provider.resolve_enrollment(seq, request, sent_at=old) is None
    assert hub.store.sends("kalent") == {}


# -- errors ----------------------------------------------------------------------------------------
def assert_error(err: errors.ProviderError, cls: type, method: str, path: str, status: int | None, code: str | None) -> None:
    assert isinstance(err, cls), err
    assert (err.vendor, err.method, err.path, err.status, err.code) == ("kalent", method, path, status, code)
    assert err.request_id and err.request_id.startswith("req_")
    assert KEY not in str(err)


def ready(hub, desired) -> tuple[KalentProvider, Sequence, str]:
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    live = provider.create_blueprint(desired.blueprints[0])
    return provider, kalent_seq(desired), f"/sequence-blueprints/{live.remote_id}/start"


def test_401_invalid_key(hub, desired):
    hub.simulators["kalent"].config["api_keys"] = ["kalent_sandbox_local"]
    with pytest.raises(errors.AuthError) as info:
        make_provider(hub, desired).read(desired, ReadContext())
    assert_error(info.value, errors.AuthError, "GET", "/sourcings", 401, "invalid_api_key")


def test_403_channel_not_connected_is_a_clear_error_per_member(hub, desired):
    provider, seq, path = ready(hub, desired)
    hub.event("kalent", "disconnect_channel", channel="linkedin")
    results = provider.enroll(seq, [EnrollRequest(m, None) for m in seq.members])
    assert len(results) == 3
    for res in results:
        assert_error(res.error, errors.AuthError, "POST", path, 403, "forbidden")
        assert "LinkedIn account is not connected" in str(res.error) and "linkedin_not_connected_or_syncing" in str(res.error)
        assert "Nothing was sent" in str(res.error)
    assert hub.store.sends("kalent") == {}


def test_402_plan_upgrade_names_billing(hub, desired):
    provider, seq, path = ready(hub, desired)
    hub.simulators["kalent"].config["plan_upgrade_required"] = True
    (res,) = provider.enroll(seq, [EnrollRequest(seq.members[0], None)])
    assert_error(res.error, errors.PaymentRequired, "POST", path, 402, "plan_upgrade_required")
    assert "https://app.kalent.ai/settings/billing" in str(res.error)


def test_404_unknown_blueprint_on_update(hub, desired):
    provider = make_provider(hub, desired)
    live = provider.create_blueprint(desired.blueprints[0])
    with pytest.raises(errors.NotFoundError) as info:
        provider.update_blueprint(desired.blueprints[0], dataclasses.replace(live, remote_id="bp_missing"))
    assert_error(info.value, errors.NotFoundError, "PATCH", "/sequence-blueprints/bp_missing", 404, "not_found")


def test_400_invalid_steps_on_create(hub, desired):
    bad = dataclasses.replace(desired.blueprints[0], steps=({"id": "x", "name": "X", "type": "FAX", "content": "hi",
                                                             "temporalityType": "ASAP"},))
    with pytest.raises(errors.ValidationFailed) as info:
        make_provider(hub, desired).create_blueprint(bad)
    assert_error(info.value, errors.ValidationFailed, "POST", "/sourcings/src_backend/sequence-blueprints", 400,
                 "validation_error")


def test_422_injected(hub, desired):
    hub.faults.script.append(Fault("status", status=422, path=r"/sourcings$"))
    with pytest.raises(errors.ValidationFailed) as info:
        make_provider(hub, desired).read(desired, ReadContext())
    assert_error(info.value, errors.ValidationFailed, "GET", "/sourcings", 422, "injected_fault")


def test_429_is_retried_after_retry_after_then_typed(hub, desired):
    hub.faults.script.extend(Fault("status", status=429, path=r"/sourcings$") for _ in range(5))
    provider = make_provider(hub, desired)
    with pytest.raises(errors.RateLimitedError) as info:
        provider.read(desired, ReadContext())
    assert_error(info.value, errors.RateLimitedError, "GET", "/sourcings", 429, "injected_fault")
    assert len(sent(hub)) == 5


def test_5xx_read_is_retried_then_server_error(hub, desired):
    hub.faults.script.extend(Fault("status", status=503, path=r"/dynamic-sequence$") for _ in range(5))
    provider = make_provider(hub, desired)
    with pytest.raises(errors.ServerError) as info:
        provider.read(desired, ReadContext())
    assert_error(info.value, errors.ServerError, "GET", "/candidates/cand_123/dynamic-sequence", 503, "injected_fault")
    assert len(provider.fake_time.slept) == 4  # type: ignore[attr-defined]


def test_5xx_on_start_is_unknown_for_every_member_never_retried(hub, desired):
    provider, seq, path = ready(hub, desired)
    hub.simulators["kalent"].config["temporal_unavailable"] = True
    results = provider.enroll(seq, [EnrollRequest(m, None) for m in seq.members])
    for res in results:
        assert_error(res.error, errors.OutcomeUnknown, "POST", path, 503, "temporal_unavailable")
    assert len([r for r in hub.store.requests("kalent") if r["path"].endswith("/start")]) == 1


# -- blueprints ------------------------------------------------------------------------------------
def test_blueprint_create_find_update_round_trip(hub, desired):
    bp = desired.blueprints[0]
    provider = make_provider(hub, desired)
    assert provider.find_blueprint(bp) is None
    created = provider.create_blueprint(bp)
    found = provider.find_blueprint(bp)
    assert found == created and found.sourcing_id == "src_backend"
    assert blueprint_view(found.steps, found.name) == blueprint_view(bp.steps, bp.name)
    changed = dataclasses.replace(bp, name="Backend outreach v3", steps=STEPS)
    mark = len(hub.store.requests("kalent"))
    updated = provider.update_blueprint(changed, found)
    assert sent(hub, mark) == [("PATCH", f"/api/v1/sequence-blueprints/{found.remote_id}", "")]
    again = provider.find_blueprint(changed)
    assert again == updated and again.remote_id == created.remote_id
    assert blueprint_view(again.steps, again.name) == blueprint_view(changed.steps, changed.name)
    assert again.steps[0]["content"] == ""  # a plain invitation is stored with empty content
    snap = make_provider(hub, desired).read(dataclasses.replace(desired, blueprints=(changed,), sequences=()), ReadContext())
    plan = compute_plan(dataclasses.replace(desired, blueprints=(changed,), sequences=()), snap)
    assert [c for c in plan.changes if c.provider == "kalent"] == []


def test_cards_are_refused_clearly(hub, desired):
    with pytest.raises(errors.ConfigError, match="no pipelines or cards"):
        make_provider(hub, desired).find_card(None, None, None)  # type: ignore[arg-type]


def test_request_counts(hub, desired):
    provider = make_provider(hub, desired)
    provider.read(desired, ReadContext())
    provider.create_blueprint(desired.blueprints[0])
    assert provider.request_counts() == {"read": 5, "write": 1}
    provider.close()


def test_a_retry_still_dispatching_is_not_mistaken_for_the_failed_attempt(hub, desired, tmp_path):
    provider, seq, _ = ready(hub, desired)
    enroll_all(provider, seq)
    advance(hub, 600)
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    store = StateStore(tmp_path / "state.db")
    snap = make_provider(hub, desired).read(desired, ReadContext(cache=store.cache()))
    remember(store, snap)
    retry = next(c for c in compute_plan(desired, snap).changes if c.action == "retry")
    member = next(m for m in seq.members if m.address == retry.address)
    (res,) = provider.enroll(seq, [EnrollRequest(member, None, retry.attempt)])
    remember_membership(store, res.live)
    # the new sequence shows only after the dispatch delay; meanwhile the failed one is the latest
    again = make_provider(hub, desired).read(desired, ReadContext(cache=store.cache(), refresh=True))
    assert (again.memberships[member.address].status, again.memberships[member.address].attempt) == (ACTIVE, 1)
    assert not [c for c in compute_plan(desired, again).changes if c.provider == "kalent"]
    advance(hub, 600)
    later = make_provider(hub, desired).read(desired, ReadContext(cache=store.cache(), refresh=True))
    assert later.memberships[member.address].vendor_status == "SCHEDULED"
    assert later.memberships[member.address].attempt == 1
    blueprint_id = provider.find_blueprint(desired.blueprints[0]).remote_id
    assert hub.store.sends("kalent")[("kalent", blueprint_id, "cand_789")] == 2
    store.close()


def test_an_in_doubt_retry_is_not_resolved_by_the_failed_attempt(hub, desired):
    provider, seq, _ = ready(hub, desired)
    member = next(m for m in seq.members if m.candidate_id == "cand_789")
    enroll_all(provider, seq)
    advance(hub, 600)
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    failed = provider.read(desired, ReadContext()).memberships[member.address]
    assert failed.status == FAILED and failed.remote_id
    request = EnrollRequest(member, None, 1)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(errors.OutcomeUnknown):  # the failed attempt is all Kalent shows yet
        provider.resolve_enrollment(seq, request, sent_at=now)
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert provider.resolve_enrollment(seq, request, sent_at=old) is None  # the retry never happened
    hub.faults.script.append(Fault("commit_timeout", method="POST", path=r"/start$"))
    assert isinstance(provider.enroll(seq, [request])[0].error, errors.OutcomeUnknown)
    advance(hub, 600)
    found = provider.resolve_enrollment(seq, request, sent_at=now)
    assert found is not None and found.remote_id != failed.remote_id and (found.status, found.attempt) == (ACTIVE, 1)
