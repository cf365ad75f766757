"""The Kalent adapter's typed errors, blueprint round trip and housekeeping, against the simulator."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler import errors
from reconciler.plan import blueprint_view, compute_plan
from reconciler.providers.base import EnrollRequest
from reconciler.sandbox.core import Fault
from tests.providers.kalent_support import STEPS, assert_error, desired, hub, make_provider, ready, sent
from tests.reading import read_with

__all__ = ["hub", "desired"]  # fixtures


# -- errors ----------------------------------------------------------------------------------------
def test_401_invalid_key(hub, desired):
    hub.simulators["kalent"].config["api_keys"] = ["kalent_sandbox_local"]
    with pytest.raises(errors.AuthError) as info:
        read_with(make_provider(hub, desired), desired)
    assert_error(info.value, errors.AuthError, "GET", "/sourcings", 401, "invalid_api_key")


def test_403_channel_not_connected_is_a_clear_error_per_member(hub, desired):
    provider, seq, path, seen = ready(hub, desired)
    hub.event("kalent", "disconnect_channel", channel="linkedin")
    results = provider.enroll(seq, [EnrollRequest(m, None) for m in seq.members], seen=seen)
    assert len(results) == 3
    for res in results:
        assert_error(res.error, errors.AuthError, "POST", path, 403, "forbidden")
        assert "LinkedIn account is not connected" in str(res.error) and "linkedin_not_connected_or_syncing" in str(res.error)
        assert "Nothing was sent" in str(res.error)
    assert hub.store.sends("kalent") == {}


def test_402_plan_upgrade_names_billing(hub, desired):
    provider, seq, path, seen = ready(hub, desired)
    hub.simulators["kalent"].config["plan_upgrade_required"] = True
    (res,) = provider.enroll(seq, [EnrollRequest(seq.members[0], None)], seen=seen)
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
        read_with(make_provider(hub, desired), desired)
    assert_error(info.value, errors.ValidationFailed, "GET", "/sourcings", 422, "injected_fault")


def test_429_is_retried_after_retry_after_then_typed(hub, desired):
    hub.faults.script.extend(Fault("status", status=429, path=r"/sourcings$") for _ in range(5))
    provider = make_provider(hub, desired)
    with pytest.raises(errors.RateLimitedError) as info:
        read_with(provider, desired)
    assert_error(info.value, errors.RateLimitedError, "GET", "/sourcings", 429, "injected_fault")
    assert len(sent(hub)) == 5


def test_5xx_read_is_retried_then_server_error(hub, desired):
    hub.faults.script.extend(Fault("status", status=503, path=r"/dynamic-sequence$") for _ in range(5))
    provider = make_provider(hub, desired)
    with pytest.raises(errors.ServerError) as info:
        read_with(provider, desired)
    assert_error(info.value, errors.ServerError, "GET", "/candidates/cand_123/dynamic-sequence", 503, "injected_fault")
    assert len(provider.fake_time.slept) == 4  # type: ignore[attr-defined]


def test_5xx_on_start_is_unknown_for_every_member_never_retried(hub, desired):
    provider, seq, path, seen = ready(hub, desired)
    hub.simulators["kalent"].config["temporal_unavailable"] = True
    results = provider.enroll(seq, [EnrollRequest(m, None) for m in seq.members], seen=seen)
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
    snap = read_with(make_provider(hub, desired), dataclasses.replace(desired, blueprints=(changed,), sequences=()))
    plan = compute_plan(dataclasses.replace(desired, blueprints=(changed,), sequences=()), snap)
    assert [c for c in plan.changes if c.provider == "kalent"] == []


def test_cards_are_refused_clearly(hub, desired):
    with pytest.raises(errors.ConfigError, match="no pipelines or cards"):
        make_provider(hub, desired).find_card(None, None, None)  # type: ignore[arg-type]


def test_request_counts(hub, desired):
    provider = make_provider(hub, desired)
    read_with(provider, desired)
    provider.create_blueprint(desired.blueprints[0])
    assert provider.request_counts() == {"read": 5, "write": 1}
    provider.close()
