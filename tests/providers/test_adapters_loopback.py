"""The three adapters over a real `sandbox serve` socket: each built with only a base_url pointing at
a loopback SandboxServer (no test transport, real time), on a hub seeded like the example project.

Per vendor: a read of the example project's desired state, an enroll that sends once, and a
commit-then-timeout that the server turns into a real dropped connection, surfacing as
OutcomeUnknown and resolving without a second send. Last, the API key never shows in the server's
request log, in any log line, or in any error text.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.model import DesiredState, Sequence
from reconciler.providers import registry
from reconciler.providers.base import EnrollRequest
from reconciler.read_input import ReadContext
from reconciler.sandbox.core import Fault, Hub
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.server import SandboxControl, SandboxServer
from reconciler.snapshot import ACTIVE
from reconciler.state_record import StateRecord
from tests.reading import read_with

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
ROOTS = {"clarky": "/clarky/api/v1", "garyclub": "/garyclub/api/public/v1", "kalent": "/kalent/api/v1"}
NAMES = {"clarky": "clarky", "garyclub": "gary", "kalent": "kalent"}   # provider names in campaignctl.yaml
KEYS = {"clarky": "ck_live_L00pbackS3cretKey00000000", "garyclub": "gc_live_L00pbackS3cretKey0123456789",
        "kalent": "kalent_L00pbackS3cretKey00000000"}
# The enrollment write of each vendor, so the scripted drop hits it and not a contact upsert.
ENROLL_PATHS = {"clarky": r"/sequences/start$", "garyclub": r"/enrollments$", "kalent": r"/start$"}


@dataclasses.dataclass
class Served:
    hub: Hub
    url: str
    desired: DesiredState

    def provider(self, vendor: str, key: str | None = None) -> Any:
        """The vendor's adapter on the server: only base_url changes, no transport."""
        config = self.desired.project.providers[NAMES[vendor]]
        config = dataclasses.replace(config, base_url=f"{self.url}{ROOTS[vendor]}")
        return registry()[vendor](config, key or KEYS[vendor])

    def sequence(self, seq_id: str) -> Sequence:
        return next(s for s in self.desired.sequences if s.id == seq_id)

    def request(self, seq_id: str, contact_id: str | None) -> EnrollRequest:
        member = next(m for m in self.sequence(seq_id).members if m.contact_id == contact_id)
        return EnrollRequest(member, self.desired.contacts.get(contact_id) if contact_id else None)

    def sends(self, vendor: str) -> list[int]:
        return list(self.hub.store.sends(vendor).values())

    def writes(self, vendor: str, path: str) -> list[str]:
        """Outcomes of the logged POSTs to the enrollment path."""
        return [r["outcome"] for r in self.hub.store.requests(vendor) if r["method"] == "POST" and r["path"].endswith(path)]

    def advance(self, vendor: str, seconds: float) -> None:
        self.hub.simulators[vendor].clock.advance(seconds)


@pytest.fixture(scope="module")
def desired() -> DesiredState:
    return load_desired(EXAMPLE)


@pytest.fixture
def served(desired: DesiredState) -> Iterator[Served]:
    hub = build_hub(None, load_seed(EXAMPLE))
    try:
        with SandboxServer(hub) as server:
            yield Served(hub, server.url, desired)
    finally:
        hub.store.close()


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def drop_after_commit(served: Served, vendor: str) -> None:
    served.hub.faults.script.append(Fault("commit_timeout", method="POST", path=ENROLL_PATHS[vendor]))


def assert_socket_drop(err: errors.ProviderError | None, vendor: str) -> None:
    """OutcomeUnknown from a connection the server really closed (in process it would be a ReadTimeout)."""
    assert isinstance(err, errors.OutcomeUnknown), err
    assert err.vendor in (vendor, NAMES[vendor]) and err.method == "POST"
    assert "RemoteProtocolError" in str(err) and "disconnected" in str(err)


# -- Clarky ---------------------------------------------------------------------------------------
def test_clarky_read_enroll_once_and_read_back(served: Served) -> None:
    provider = served.provider("clarky")
    try:
        snap = read_with(provider, served.desired)
        assert snap.stages[("clarky", "sales")] == ("Lead", "Qualified", "Closed Won")
        assert snap.memberships == {} and snap.requests["clarky"] > 0
        req = served.request("inbound-es", "maria-garcia")
        [result] = provider.enroll(served.sequence("inbound-es"), [req])
        assert result.error is None and result.live.status == ACTIVE and result.live.remote_id.startswith("enr_")
        assert served.sends("clarky") == [1]
        served.advance("clarky", 3600)   # generated; auto_approve: false parks it for review
        cache = {req.membership.address: StateRecord(result.live.remote_id, ACTIVE, "generating", 0, "2000-01-01T00:00:00.000000Z")}
        live = read_with(provider, served.desired, ReadContext(cache=cache)).memberships[req.membership.address]
        assert (live.remote_id, live.status, live.vendor_status) == (result.live.remote_id, ACTIVE, "pending_approval")
        assert served.sends("clarky") == [1]
    finally:
        provider.close()


def test_clarky_commit_then_timeout_is_replayed_under_its_key_without_a_second_send(served: Served) -> None:
    provider = served.provider("clarky")
    try:
        seq, req = served.sequence("inbound-es"), served.request("inbound-es", "maria-garcia")
        drop_after_commit(served, "clarky")
        [result] = provider.enroll(seq, [req])
        # The start is keyed on Clarky's own contact id (created first, with the notes) and carries no
        # notes, so the client replays a lost answer at once: Clarky returns the original enrollment.
        assert result.error is None and result.live.remote_id.startswith("enr_")
        starts = served.writes("clarky", "/sequences/start")
        assert starts[0] == "committed_then_dropped" and len(starts) == 2
        assert served.sends("clarky") == [1]
        found = provider.resolve_enrollment(seq, req, sent_at=now())
        assert found is not None and found.remote_id == result.live.remote_id
        assert served.sends("clarky") == [1]   # the keyed replay returned the original
    finally:
        provider.close()


# -- Gary Club ------------------------------------------------------------------------------------
def test_gary_read_enroll_once_and_read_back(served: Served) -> None:
    provider = served.provider("garyclub")
    try:
        snap = read_with(provider, served.desired)
        assert snap.memberships == {} and snap.requests["gary"] > 0
        req = served.request("nurture", "maria-garcia")
        [result] = provider.enroll(served.sequence("nurture"), [req])
        assert result.error is None and result.live.status == ACTIVE
        assert served.sends("garyclub") == [1]
        again = served.provider("garyclub")   # a fresh adapter: nothing memoised from the enroll
        try:
            live = read_with(again, served.desired).memberships[req.membership.address]
        finally:
            again.close()
        assert (live.remote_id, live.status) == (result.live.remote_id, ACTIVE)
        assert served.sends("garyclub") == [1]
    finally:
        provider.close()


def test_gary_commit_then_timeout_resolves_by_listing_without_a_second_send(served: Served) -> None:
    provider = served.provider("garyclub")
    try:
        seq, req = served.sequence("nurture"), served.request("nurture", "maria-garcia")
        read_with(provider, served.desired)
        drop_after_commit(served, "garyclub")
        [result] = provider.enroll(seq, [req])
        assert_socket_drop(result.error, "garyclub")
        assert served.writes("garyclub", "/enrollments") == ["committed_then_dropped"]
        found = provider.resolve_enrollment(seq, req, sent_at=now())
        assert found is not None and found.status == ACTIVE
        assert found.remote_id in served.hub.store.collection("garyclub.enrollments")
        assert served.writes("garyclub", "/enrollments") == ["committed_then_dropped"]   # resolved by reading
        assert served.sends("garyclub") == [1]
    finally:
        provider.close()


# -- Kalent ---------------------------------------------------------------------------------------
def kalent_requests(served: Served) -> list[EnrollRequest]:
    return [EnrollRequest(m, None) for m in served.sequence("backend-outreach").members]


def test_kalent_read_enroll_once_and_read_back(served: Served) -> None:
    provider = served.provider("kalent")
    try:
        snap = read_with(provider, served.desired)
        assert snap.blueprints == {} and snap.memberships == {} and snap.requests["kalent"] > 0
        blueprint = provider.create_blueprint(served.desired.blueprints[0])
        assert blueprint.remote_id
        requests = kalent_requests(served)
        results = provider.enroll(served.sequence("backend-outreach"), requests, seen=snap.seen["kalent"])
        assert len(results) == 3 and all(r.error is None for r in results), results
        assert served.writes("kalent", "/start") == ["ok"]   # one call carries the whole batch
        assert sorted(served.sends("kalent")) == [1, 1, 1]
        served.advance("kalent", 60)   # starts are dispatched asynchronously
        snap = read_with(provider, served.desired)
        assert [a.address for a in snap.blueprints.values()] == [served.desired.blueprints[0].address]
        assert {r.membership.address for r in requests} <= set(snap.memberships)
        assert {snap.memberships[r.membership.address].status for r in requests} == {ACTIVE}
        assert sorted(served.sends("kalent")) == [1, 1, 1]
    finally:
        provider.close()


def test_kalent_commit_then_timeout_resolves_once_dispatched_without_a_second_send(served: Served) -> None:
    provider = served.provider("kalent")
    try:
        seen = read_with(provider, served.desired).seen["kalent"]
        provider.create_blueprint(served.desired.blueprints[0])
        seq, requests = served.sequence("backend-outreach"), kalent_requests(served)
        drop_after_commit(served, "kalent")
        sent_at = now()
        results = provider.enroll(seq, requests, seen=seen)
        assert len(results) == 3
        for result in results:
            assert_socket_drop(result.error, "kalent")
        assert served.writes("kalent", "/start") == ["committed_then_dropped"]
        served.advance("kalent", 600)
        found = [provider.resolve_enrollment(seq, r, sent_at=sent_at, seen=seen) for r in requests]
        assert all(lm is not None and lm.status == ACTIVE and lm.remote_id for lm in found)
        assert served.writes("kalent", "/start") == ["committed_then_dropped"]
        assert sorted(served.sends("kalent")) == [1, 1, 1]
    finally:
        provider.close()


# -- the API key ----------------------------------------------------------------------------------
def error_texts(err: BaseException) -> list[str]:
    return [str(err), repr(err), *map(str, err.args), repr(vars(err)) if hasattr(err, "__dict__") else ""]


def test_the_api_key_never_reaches_the_request_log_log_lines_or_error_text(served: Served, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for vendor, seq_id, contact in (("clarky", "inbound-es", "maria-garcia"), ("garyclub", "nurture", "maria-garcia"),
                                    ("kalent", "backend-outreach", "ana-souza")):
        provider = served.provider(vendor)
        try:
            seen = read_with(provider, served.desired).seen[NAMES[vendor]]
            if vendor == "kalent":
                provider.create_blueprint(served.desired.blueprints[0])
            drop_after_commit(served, vendor)
            if vendor == "clarky":  # a keyed start is replayed by the client: make every replay fail too
                served.hub.faults.script.extend([Fault("status", status=503, method="POST", path=ENROLL_PATHS[vendor])] * 4)
            [result] = provider.enroll(served.sequence(seq_id), [served.request(seq_id, contact)], seen=seen)
            assert isinstance(result.error, errors.OutcomeUnknown)
            texts += error_texts(result.error)
            served.hub.faults.script.append(Fault("status", status=401, vendor=vendor))
            with pytest.raises(errors.AuthError) as refused:
                read_with(provider, served.desired)
            texts += error_texts(refused.value)
        finally:
            provider.close()
    bad = served.provider("clarky", key="sk_live_NotAClarkyKeyS3cret")   # refused by the server itself
    try:
        with pytest.raises(errors.AuthError) as refused:
            read_with(bad, served.desired)
        texts += error_texts(refused.value)
    finally:
        bad.close()
    with SandboxControl(served.url) as control:
        served_log = repr(control.requests())   # the request log as `sandbox serve` reports it
    stored_log = repr(served.hub.store.requests())
    assert stored_log.count("'method'") > 10 and "committed_then_dropped" in served_log
    server_lines = [r.getMessage() for r in caplog.records if r.name == "reconciler.sandbox.server"]
    assert server_lines, "the server logged no request line: the check below would prove nothing"
    for secret in (*KEYS.values(), "sk_live_NotAClarkyKeyS3cret"):
        assert secret not in served_log and secret not in stored_log
        assert secret not in caplog.text
        assert not [t for t in texts if secret in t]
