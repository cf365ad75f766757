"""The settle window is the core's, for any vendor whose spec declares asynchronous starts: an adapter
reports "none, read at T" (`LiveSnapshot.absent`), and the merge (reconciler/settle_window.py) judges
it on the state's records, in the words the spec gives."""

from __future__ import annotations

from reconciler.model import Address
from reconciler.providers.spec import AsyncStarts
from reconciler.settle_window import SettleWindow, judge_absences
from reconciler.snapshot import ACTIVE, UNSEEN, Absence, LiveSnapshot
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
