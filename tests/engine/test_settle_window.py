"""The settle window is the core's, for any vendor whose spec declares asynchronous starts: an adapter
reports what the vendor said ("none, read at T", `LiveSnapshot.absent`; the enrollment it shows,
`shown`; a 404, `unknown`), and the merge (reconciler/settle_window.py) judges it on the state's
records, in the words the spec gives."""

from __future__ import annotations

import dataclasses

from reconciler.model import Address
from reconciler.providers.spec import AsyncStarts
from reconciler.settle_window import SettleWindow, judge_absences, judge_reads
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, UNSEEN, Absence, LiveMembership, LiveSnapshot, Shown, Unknown
from reconciler.state_record import StateRecord

WINDOW = SettleWindow(600, AsyncStarts(setting="hold_minutes", minutes=lambda config: 10, person="recipient",
                                       none="no delivery"), "Acme")
READ_AT = "2026-12-01T10:00:00.000000Z"


def member(key: str, provider: str = "acme") -> Address:
    return Address(provider, "membership", "welcome", key)


def judged(known: dict[Address, StateRecord], *absent: Address) -> LiveSnapshot:
    live = LiveSnapshot(absent={a: Absence("r-1", READ_AT) for a in absent})
    judge_absences(known, live, {"acme": WINDOW})
    return live


def test_a_first_none_waits_a_window_and_is_noted_for_apply_to_record() -> None:
    live = judged({}, member("ann"))
    assert live.settling == {member("ann"): (
        "Acme starts asynchronously: no delivery for recipient r-1 since 2026-12-01 10:00 UTC; started from "
        "2026-12-01 10:10 UTC if still absent (hold_minutes: 10), so another run's start has time to show")}
    assert live.absent_seen == {member("ann"): ("r-1", READ_AT)} and not live.unproven


def test_none_read_again_after_the_window_proves_absence() -> None:
    watch = StateRecord(None, status=UNSEEN, contact="r-1", since="2026-12-01T09:49:00.000000Z")
    live = judged({member("ann"): watch}, member("ann"))
    assert not live.settling and not live.unproven and not live.absent_seen


def test_a_start_recorded_under_another_address_waits_then_is_manual() -> None:
    started = StateRecord("d-9", status=ACTIVE, vendor_status="queued", contact="r-1",
                          since="2026-12-01T09:55:00.000000Z")
    live = judged({member("old-name"): started}, member("ann"))
    assert live.settling[member("ann")].startswith("recipient r-1 was started at 2026-12-01 09:55 UTC under "
                                                   "acme.membership[welcome][old-name] (this state); Acme may")
    earlier = StateRecord("d-9", status=ACTIVE, vendor_status="queued", contact="r-1",
                          since="2026-12-01T09:00:00.000000Z")
    live = judged({member("old-name"): earlier}, member("ann"))
    assert live.unproven[member("ann")].endswith("but Acme shows no delivery for it: check it in Acme; nothing is "
                                                 "started while the state remembers it")


def test_a_vendor_without_asynchronous_starts_or_a_known_enrollment_is_not_judged_here() -> None:
    live = judged({}, member("ann", provider="other"))
    assert not live.settling and not live.unproven and not live.absent_seen
    known = {member("ann"): StateRecord("d-1", status=ACTIVE, contact="r-1", since=READ_AT)}
    live = judged(known, member("ann"))  # known now absent: live_merge.known_now_absent's, not the window's
    assert not live.settling and not live.unproven


# -- what the vendor read where this state recorded a start (judge_shown) ------------------------------
ANN = member("ann")


def ours(since: str, remote_id: str | None = None) -> StateRecord:
    """A start this state recorded for recipient r-1 at ANN (its second attempt)."""
    return StateRecord(remote_id, status=ACTIVE, vendor_status="queued", attempt=1, contact="r-1", since=since)


def showing(remote_id: str, status: str, started_at: str, said: str = "RUNNING") -> LiveSnapshot:
    """The adapter's report: the enrollment the vendor shows (and its membership, attempt unknown: 0)."""
    lm = LiveMembership(ANN, remote_id, status, said, since=started_at, observed_at=READ_AT, contact_remote_id="r-1")
    return LiveSnapshot(memberships={ANN: lm}, shown={ANN: Shown("r-1", remote_id, status, said, started_at, READ_AT)})


def merged(known: dict[Address, StateRecord], live: LiveSnapshot) -> LiveSnapshot:
    judge_reads(known, live, {"acme": WINDOW})
    return live


def test_within_the_window_none_is_our_start_still_dispatching() -> None:
    started = ours("2026-12-01T09:55:00.000000Z")
    live = merged({ANN: started}, LiveSnapshot(absent={ANN: Absence("r-1", READ_AT)}))
    assert live.memberships == {ANN: started.membership(ANN)} and not live.unproven and not live.settling
    late = ours("2026-12-01T09:49:00.000000Z")  # past the window: known now absent (live_merge's, not here)
    live = merged({ANN: late}, LiveSnapshot(absent={ANN: Absence("r-1", READ_AT)}))
    assert not live.memberships and not live.unproven and not live.settling and not live.absent_seen


def test_within_the_window_an_earlier_enrollment_is_the_previous_attempt_not_ours() -> None:
    started = ours("2026-12-01T09:55:00.000000Z")
    live = merged({ANN: started}, showing("d-1", FAILED, "2026-12-01T08:00:00.000000Z", said="ERROR"))
    assert live.memberships == {ANN: started.membership(ANN)} and not live.unproven
    # began after our start: ours, as the vendor says it, with the attempt the state recorded
    live = merged({ANN: started}, showing("d-2", ACTIVE, "2026-12-01T09:56:00.000000Z"))
    assert live.memberships[ANN].remote_id == "d-2" and live.memberships[ANN].attempt == 1


def test_within_the_window_a_final_enrollment_of_an_id_never_seen_is_not_ours_yet() -> None:
    started = ours("2026-12-01T09:55:00.000000Z")
    live = merged({ANN: started}, showing("d-3", FAILED, "2026-12-01T09:55:30.000000Z", said="ERROR"))
    assert live.memberships == {ANN: started.membership(ANN)} and not live.unproven
    # the id the state recorded: ours, and it failed
    live = merged({ANN: ours("2026-12-01T09:55:00.000000Z", remote_id="d-3")},
                  showing("d-3", FAILED, "2026-12-01T09:55:30.000000Z", said="ERROR"))
    assert live.memberships[ANN].status == FAILED and live.memberships[ANN].attempt == 1 and not live.unproven


def test_past_the_window_a_start_that_never_showed_is_unproven_never_started_again() -> None:
    started = ours("2026-12-01T09:00:00.000000Z")
    live = merged({ANN: started}, showing("d-1", FAILED, "2026-12-01T08:00:00.000000Z", said="ERROR"))
    assert ANN not in live.memberships
    assert live.unproven == {ANN: "Acme accepted a start for recipient r-1 at 2026-12-01 09:00 UTC, but still shows "
                                  "only the earlier sequence d-1 (ERROR): check it in Acme; nothing is started again "
                                  "while the state remembers that start"}
    # a sequence that began after our start is ours, whatever its id
    live = merged({ANN: started}, showing("d-2", FAILED, "2026-12-01T09:00:30.000000Z", said="ERROR"))
    assert live.memberships[ANN].status == FAILED and not live.unproven
    # only a start (active or paused) can be in flight: a recorded end is not one
    ended = dataclasses.replace(started, status=FINISHED, since="2026-12-01T09:55:00.000000Z")
    for since in ("2026-12-01T09:55:00.000000Z", "2026-12-01T09:00:00.000000Z"):
        live = merged({ANN: dataclasses.replace(ended, since=since)},
                      showing("d-1", FAILED, "2026-12-01T08:00:00.000000Z", said="ERROR"))
        assert live.memberships[ANN].remote_id == "d-1" and not live.unproven


def test_a_404_keeps_the_last_status_of_a_start_we_recorded_and_proves_nothing_otherwise() -> None:
    started = ours("2026-12-01T09:00:00.000000Z")
    live = merged({ANN: started}, LiveSnapshot(unknown={ANN: Unknown("r-1", "no such recipient")}))
    assert live.memberships == {ANN: started.membership(ANN)} and not live.unproven
    assert live.warnings == ["acme.membership[welcome][ann]: Acme does not know recipient r-1 (no such recipient); "
                             "kept its last known status 'queued'"]
    watch = StateRecord(None, status=UNSEEN, contact="r-1", since=READ_AT)  # a first absent read is no start
    for known in ({}, {ANN: watch}):
        live = merged(known, LiveSnapshot(unknown={ANN: Unknown("r-1", "no such recipient")}))
        assert not live.memberships and not live.warnings
        assert live.unproven == {ANN: "Acme answered 404 for recipient r-1's sequence status (no such recipient); "
                                      "that does not prove it has none, so nothing is started: check the recipient "
                                      "id in Acme"}


def test_what_a_vendor_without_asynchronous_starts_showed_is_its_answer_and_a_404_never_proves_none() -> None:
    other = member("ann", provider="other")
    started = ours("2026-12-01T09:55:00.000000Z")
    lm = LiveMembership(other, "d-1", FAILED, "ERROR", since="2026-12-01T08:00:00.000000Z", observed_at=READ_AT)
    live = merged({other: started}, LiveSnapshot(
        memberships={other: lm}, shown={other: Shown("r-1", "d-1", FAILED, "ERROR", lm.since, READ_AT)}))
    assert live.memberships == {other: lm} and not live.unproven
    live = merged({}, LiveSnapshot(unknown={other: Unknown("r-1", "gone")}))
    assert live.unproven[other].startswith("other answered 404 for person r-1's sequence status (gone); that does not")
