"""The Kalent adapter against the in-process Kalent simulator: requests, counts, statuses, lost starts."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from reconciler import errors
from reconciler.engine import open_session
from reconciler.read_record import record_read, remember_membership
from reconciler.model import Address
from reconciler.orchestrate import ApplyRun, run_plan
from reconciler.plan import compute_plan
from reconciler.providers.base import EnrollRequest
from reconciler.read_input import ReadContext
from reconciler.sandbox.core import Fault
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED
from reconciler.state import StateStore
from tests.apply._support import UNCHECKED, time_passes
from tests.providers.kalent_support import (BULK, DAY, EXAMPLE, STEPS, advance, bulk_state, desired, enroll_all, hub,
                                            kalent_seq, make_provider, ready, sent, stamp)
from tests.reading import read_with

__all__ = ["hub", "desired"]  # fixtures


# -- read ------------------------------------------------------------------------------------------
def test_cold_read_lists_at_max_page_size_and_reads_each_candidate_once(hub, desired):
    provider = make_provider(hub, desired)
    snap = read_with(provider, desired)
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
    # never seen before: "no sequence" proves absence only a settle window later (another run may have started them)
    assert sorted(c.action for c in plan.changes if c.provider == "kalent") == ["create", "defer", "defer", "defer"]
    assert snap.absent_seen.keys() == snap.settling.keys() and len(snap.settling) == 3


def test_unknown_sourcing_is_a_plan_error_naming_the_ones_that_exist(hub, desired):
    bad = dataclasses.replace(desired, blueprints=(dataclasses.replace(desired.blueprints[0], sourcing="Data Lead"),))
    with pytest.raises(errors.PlanError) as info:
        read_with(make_provider(hub, desired), bad)
    assert "'Data Lead'" in str(info.value) and "'Senior Backend Engineer' (src_backend)" in str(info.value)
    assert "'Frontend Lead' (src_frontend)" in str(info.value)


def test_unknown_blueprint_target_is_a_plan_error(hub, desired):
    seq = dataclasses.replace(kalent_seq(desired), target="bp_nope")
    with pytest.raises(errors.PlanError, match="blueprint 'bp_nope' is neither declared"):
        read_with(make_provider(hub, desired), dataclasses.replace(desired, sequences=(seq,)))


def test_sequence_may_target_a_kalent_blueprint_id(hub, desired):
    provider = make_provider(hub, desired)
    live = provider.create_blueprint(desired.blueprints[0])
    seq = dataclasses.replace(kalent_seq(desired), target=live.remote_id)
    state = dataclasses.replace(desired, blueprints=(), sequences=(seq,))
    results = provider.enroll(seq, [EnrollRequest(seq.members[0], None)])
    assert results[0].live is not None and results[0].live.status == ACTIVE
    advance(hub, 600)
    snap = read_with(make_provider(hub, desired), state)
    assert snap.memberships[seq.members[0].address].remote_id is not None
    assert snap.memberships[seq.members[0].address].conflict is None


# -- enroll ----------------------------------------------------------------------------------------
def test_250_candidates_start_in_three_calls_and_each_is_sent_once(hub, desired):
    state = bulk_state(desired)
    provider = make_provider(hub, desired)
    seen = read_with(provider, state).seen["kalent"]
    provider.create_blueprint(state.blueprints[0])
    mark = len(hub.store.requests("kalent"))
    results = enroll_all(provider, state.sequences[0], seen)
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
    seen = read_with(setup, state).seen["kalent"]
    setup.create_blueprint(state.blueprints[0])
    enroll_all(setup, state.sequences[0], seen)
    advance(hub, 10 * 60)

    mark = len(hub.store.requests("kalent"))
    snap = read_with(make_provider(hub, desired), state)
    status_reads = [r for r in hub.store.requests("kalent")[mark:] if r["path"].endswith("/dynamic-sequence")]
    assert len(status_reads) == 250 and snap.requests["kalent"] == 250 + 2  # + sourcings + blueprints
    assert {lm.status for lm in snap.memberships.values()} == {ACTIVE}

    for cand in BULK[:10]:
        hub.event("kalent", "reply", candidate=cand)
    advance(hub, 8 * DAY)  # every sequence completes (mail after two days, invite unanswered after seven)
    store = StateStore(tmp_path / "state.db")
    snap = read_with(make_provider(hub, desired), state, ReadContext(cache=store.cache(), refresh=True))
    record_read(store, snap)
    finished = [lm for lm in snap.memberships.values() if lm.status == FINISHED]
    assert len(finished) == 250
    assert sorted(lm.reason for lm in finished)[:10] == ["completed"] * 10
    assert sum(lm.reason == "talent_replied" for lm in finished) == 10

    mark = len(hub.store.requests("kalent"))
    warm = read_with(make_provider(hub, desired), state, ReadContext(cache=store.cache(), refresh=True))
    status_reads = [r for r in hub.store.requests("kalent")[mark:] if r["path"].endswith("/dynamic-sequence")]
    assert status_reads == [] and warm.requests["kalent"] == 2
    assert {lm.status for lm in warm.memberships.values()} == {FINISHED}
    assert all(lm.observed_at is None for lm in warm.memberships.values())
    store.close()


def test_fresh_active_cache_is_not_re_read_but_stale_one_is(hub, desired, tmp_path):
    provider = make_provider(hub, desired)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(desired.blueprints[0])
    enroll_all(provider, kalent_seq(desired), seen)
    advance(hub, 600)
    store = StateStore(tmp_path / "state.db")
    record_read(store, read_with(make_provider(hub, desired), desired))

    mark = len(hub.store.requests("kalent"))
    read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache()))
    assert not [r for r in sent(hub, mark) if r[1].endswith("/dynamic-sequence")]
    stale = make_provider(hub, desired, status_refresh_minutes=0.0)
    mark = len(hub.store.requests("kalent"))
    read_with(stale, desired, ReadContext(cache=store.cache()))
    assert len([r for r in sent(hub, mark) if r[1].endswith("/dynamic-sequence")]) == 3
    store.close()


def test_statuses_map_to_neutral_ones(hub, desired):
    provider = make_provider(hub, desired)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    enroll_all(provider, seq, seen)
    advance(hub, 600)
    hub.event("kalent", "pause", candidate="cand_123")
    hub.event("kalent", "error", candidate="cand_456", reason="linkedin_profile_unreachable")
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    snap = read_with(make_provider(hub, desired), desired)
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

    snap = read_with(make_provider(hub, desired), desired)
    tom = snap.memberships[Address("kalent", "membership", "backend-outreach", "tom-becker")]
    assert tom.conflict and "'Made in the UI'" in tom.conflict and "cand_456" in tom.conflict
    plan = compute_plan(desired, snap)
    tom_change = next(c for c in plan.changes if c.address == tom.address)
    assert tom_change.action == "skip"
    # remembered, the conflict survives a warm read within the refresh window
    store = StateStore(tmp_path / "state.db")
    record_read(store, snap)
    warm = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache()))
    assert warm.memberships[tom.address].conflict
    assert hub.store.sends("kalent") == {("kalent", other_live.remote_id, "cand_456"): 1}
    store.close()


def test_cached_orphans_are_included(hub, desired, tmp_path):
    store = StateStore(tmp_path / "state.db")
    gone = Address("kalent", "membership", "old-seq", "cand_790")
    store.remember(gone, "dseq_x", status=ACTIVE, vendor_status="SCHEDULED", extra={"contact": "cand_790"},
                   observed_at="2020-01-01T00:00:00.000000Z")
    snap = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache()))
    assert snap.memberships[gone].status == ACTIVE and snap.memberships[gone].remote_id == "dseq_x"
    assert any(c.address == gone and c.action == "manual" for c in compute_plan(desired, snap).changes)
    store.close()


# -- lost answers ----------------------------------------------------------------------------------
def test_commit_then_timeout_makes_every_member_unknown_and_reading_resolves_it(hub, desired):
    provider = make_provider(hub, desired)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    hub.faults.script.append(Fault("commit_timeout", method="POST", path=r"/start$"))
    requests = [EnrollRequest(m, None) for m in seq.members]
    results = provider.enroll(seq, requests, seen=seen)
    assert len(results) == 3 and all(isinstance(r.error, errors.OutcomeUnknown) and r.live is None for r in results)
    starts = [r for r in hub.store.requests("kalent") if r["path"].endswith("/start")]
    assert len(starts) == 1  # never re-sent
    now = stamp()
    with pytest.raises(errors.OutcomeUnknown, match="asynchronously"):
        provider.resolve_enrollment(seq, requests[0], sent_at=now, seen=seen)
    advance(hub, 11 * 60)
    found = [provider.resolve_enrollment(seq, r, sent_at=now, seen=seen) for r in requests]
    assert all(lm is not None and lm.status == ACTIVE and lm.remote_id and not lm.conflict for lm in found)
    assert set(hub.store.sends("kalent").values()) == {1} and len(hub.store.sends("kalent")) == 3


def test_resolve_finds_nothing_after_the_settle_window(hub, desired):
    provider = make_provider(hub, desired)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    request = EnrollRequest(seq.members[0], None)  # a start that never reached Kalent
    now = stamp()
    with pytest.raises(errors.OutcomeUnknown):
        provider.resolve_enrollment(seq, request, sent_at=now, seen=seen)
    old = stamp(hours_ago=1)
    assert provider.resolve_enrollment(seq, request, sent_at=old, seen=seen) is None
    assert hub.store.sends("kalent") == {}


def test_a_retry_still_dispatching_is_not_mistaken_for_the_failed_attempt(hub, desired, tmp_path):
    provider, seq, _, seen = ready(hub, desired)
    enroll_all(provider, seq, seen)
    advance(hub, 600)
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    store = StateStore(tmp_path / "state.db")
    snap = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache()))
    record_read(store, snap)
    retry = next(c for c in compute_plan(desired, snap).changes if c.action == "retry")
    member = next(m for m in seq.members if m.address == retry.address)
    (res,) = provider.enroll(seq, [EnrollRequest(member, None, retry.attempt)], seen=seen)
    remember_membership(store, res.live)
    # the new sequence shows only after the dispatch delay; meanwhile the failed one is the latest
    again = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache(), refresh=True))
    assert (again.memberships[member.address].status, again.memberships[member.address].attempt) == (ACTIVE, 1)
    assert not [c for c in compute_plan(desired, again).changes if c.provider == "kalent"]
    advance(hub, 600)
    later = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache(), refresh=True))
    assert later.memberships[member.address].vendor_status == "SCHEDULED"
    assert later.memberships[member.address].attempt == 1
    blueprint_id = provider.find_blueprint(desired.blueprints[0]).remote_id
    assert hub.store.sends("kalent")[("kalent", blueprint_id, "cand_789")] == 2
    store.close()


def test_a_start_still_dispatching_stands_while_kalent_shows_no_sequence(hub, desired, tmp_path):
    """Kalent shows a start only once dispatched (five minutes here): a read within the settle window
    that finds no sequence keeps the start the state recorded, neither absent nor unproven."""
    provider, seq, _, seen = ready(hub, desired)
    store = StateStore(tmp_path / "state.db")
    for result in enroll_all(provider, seq, seen):
        remember_membership(store, result.live)
    members = [m.address for m in seq.members]
    again = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache(), refresh=True))
    assert set(again.absent) == set(members)  # what Kalent said
    assert [(again.memberships[a].status, again.memberships[a].observed_at) for a in members] == \
        [(ACTIVE, None)] * len(members) and not again.unproven and not again.settling
    assert not [c for c in compute_plan(desired, again).changes if c.provider == "kalent"]
    advance(hub, 600)
    later = read_with(make_provider(hub, desired), desired, ReadContext(cache=store.cache(), refresh=True))
    assert all(later.memberships[a].vendor_status == "SCHEDULED" and later.memberships[a].observed_at
               for a in members)
    assert sorted(hub.store.sends("kalent").values()) == [1] * len(members)
    store.close()


def test_an_in_doubt_retry_is_not_resolved_by_the_failed_attempt(hub, desired):
    provider, seq, _, seen = ready(hub, desired)
    member = next(m for m in seq.members if m.candidate_id == "cand_789")
    enroll_all(provider, seq, seen)
    advance(hub, 600)
    hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
    read = read_with(provider, desired)  # the read the retry is planned on: its failed sequence
    failed, seen = read.memberships[member.address], read.seen["kalent"]
    assert failed.status == FAILED and failed.remote_id
    request = EnrollRequest(member, None, 1)
    now = stamp()
    with pytest.raises(errors.OutcomeUnknown):  # the failed attempt is all Kalent shows yet
        provider.resolve_enrollment(seq, request, sent_at=now, seen=seen)
    old = stamp(hours_ago=1)
    assert provider.resolve_enrollment(seq, request, sent_at=old, seen=seen) is None  # the retry never happened
    hub.faults.script.append(Fault("commit_timeout", method="POST", path=r"/start$"))
    assert isinstance(provider.enroll(seq, [request], seen=seen)[0].error, errors.OutcomeUnknown)
    advance(hub, 600)
    found = provider.resolve_enrollment(seq, request, sent_at=now, seen=seen)
    assert found is not None and found.remote_id != failed.remote_id and (found.status, found.attempt) == (ACTIVE, 1)


def test_apply_with_a_lost_start_is_resolved_by_reading_on_the_next_run(hub, tmp_path):
    root = tmp_path / "camp"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))

    def run(apply: bool) -> list:
        """Kalent's part of `plan`, or `apply --target 'kalent.*'` (the sequence of reconciler/orchestrate.py)."""
        with open_session(root, env={}, hub=hub) as session:
            if not apply:
                return [c for c in run_plan(session).plan.changes if c.provider == "kalent"]
            with ApplyRun(session, dataclasses.replace(UNCHECKED, targets=("kalent.*",))) as one:
                one.prepare()
                return one.execute().report.results

    assert sorted((r.action, r.status) for r in run(apply=True)) == [("create", "ok")]  # never seen: wait
    time_passes(root, hub, 660)
    hub.faults.script.append(Fault("commit_timeout", method="POST", path=r"/start$"))
    results = run(apply=True)
    assert sorted((r.action, r.status) for r in results) == [("enroll", "unknown")] * 3
    # the start is not visible yet: every member is deferred, nothing is sent again
    assert [c.action for c in run(apply=False)] == ["defer"] * 3
    advance(hub, 600)
    assert run(apply=False) == []
    sends = hub.store.sends("kalent")
    assert len(sends) == 3 and set(sends.values()) == {1}


@pytest.mark.parametrize("settle_minutes,in_doubt", [(10.0, False), (30.0, True)])
def test_the_settle_window_after_a_lost_start_is_configurable(hub, desired, settle_minutes, in_doubt):
    provider = make_provider(hub, desired, start_settle_minutes=settle_minutes)
    seen = read_with(provider, desired).seen["kalent"]
    provider.create_blueprint(desired.blueprints[0])
    seq = kalent_seq(desired)
    request = EnrollRequest(seq.members[0], None)  # a start that never reached Kalent, 20 minutes ago
    if in_doubt:
        with pytest.raises(errors.OutcomeUnknown):
            provider.resolve_enrollment(seq, request, sent_at=stamp(hours_ago=1 / 3), seen=seen)
    else:
        assert provider.resolve_enrollment(seq, request, sent_at=stamp(hours_ago=1 / 3), seen=seen) is None
    assert hub.store.sends("kalent") == {}


def test_start_settle_minutes_is_read_from_the_project_file(make_project):
    from reconciler.desired import load_desired

    root = make_project({"x.yaml": "contacts: []\n"}, project=(
        "version: 1\nproviders:\n  kalent: {type: kalent, api_key_env: K, sandbox: true, start_settle_minutes: 30}\n"))
    assert load_desired(root).project.providers["kalent"].start_settle_minutes == 30.0


def test_one_unknown_candidate_does_not_block_the_rest_of_its_batch(hub, desired):
    ids = BULK[:7]
    state = bulk_state(desired, candidates=[*ids[:3], "cand_ghost", *ids[3:]])
    provider = make_provider(hub, desired)
    seen = read_with(provider, state).seen["kalent"]
    provider.create_blueprint(state.blueprints[0])
    before = len(hub.store.requests("kalent"))
    results = enroll_all(provider, state.sequences[0], seen)
    failed = {r.address.key: r.error for r in results if r.error is not None}
    assert list(failed) == ["cand_ghost"] and isinstance(failed["cand_ghost"], errors.NotFoundError)
    assert all(r.live is not None for r in results if r.address.key != "cand_ghost")
    sends = hub.store.sends("kalent")
    assert sorted(c for (_, _, c) in sends) == sorted(ids) and set(sends.values()) == {1}
    starts = [r for r in hub.store.requests("kalent")[before:] if r["method"] == "POST"]
    assert len(starts) <= 2 * 8 - 1  # halving: a few extra refused calls, never a repeated start


def test_one_apply_never_sends_two_starts_for_one_candidate(hub, desired):
    """Two members naming the same candidate (or a second enroll call for a started one) in one
    process: one start goes out, the others are refused without a request."""
    provider, seq, path, seen = ready(hub, desired)
    ana = next(m for m in seq.members if m.candidate_id == "cand_123")
    alias = dataclasses.replace(ana, address=Address("kalent", "membership", "other-seq", "ana-again"))
    first, second = provider.enroll(seq, [EnrollRequest(ana, None), EnrollRequest(alias, None)], seen=seen)
    assert first.live is not None and second.error is not None and second.error.code == "already_started"
    (third,) = provider.enroll(seq, [EnrollRequest(ana, None)], seen=seen)
    assert third.error is not None and "already started in this apply" in str(third.error)
    starts = [r for r in hub.store.requests("kalent") if r["path"] == "/api/v1" + path]
    assert len(starts) == 1 and sum(hub.store.sends("kalent").values()) == 1


def test_a_candidate_id_is_one_escaped_path_segment(hub, desired):
    """A manifest's candidate id goes into URLs: '?', '#', '/' or '%' in it must not reach another route
    or become a query (validate allows them; only spaces, brackets and control characters are refused)."""
    odd = "cand_x?pageIndex=1/../y#z%41"
    provider = make_provider(hub, desired)
    read_with(provider, bulk_state(desired, [odd]))
    reads = [(path, query) for method, path, query in sent(hub) if "/candidates/" in path]
    assert reads == [(f"/api/v1/candidates/{odd}/dynamic-sequence", "")]
