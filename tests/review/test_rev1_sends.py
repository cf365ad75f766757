"""Hostile review (rev1): paths that could enroll a person twice, each ending with the send ledger."""

from __future__ import annotations

from reconciler.sandbox.core import Fault
from tests.apply._support import apply_once, open_hub, plan_changes, shift_state, small_project

TIMES = ("createdAt", "dispatchAt", "anchor", "stateAt", "inviteSentAt", "inviteAcceptedAt", "inviteSettledAt")


def later(root, hub, seconds: float) -> None:
    """`seconds` pass for both sides on one clock: the state's times and every time Kalent recorded
    move into the past (the sandbox's clock offset stays 0), so Kalent's `startedAt` and our own
    `since` stay comparable, as they are in real life."""
    shift_state(root, seconds)
    sequences = hub.store.collection("kalent.dynamic_sequences")
    for key, seq in sequences.items():
        moved = {k: (v - seconds if k in TIMES and v is not None else v) for k, v in seq.items()}
        moved["sent"] = [t - seconds for t in seq["sent"]]
        sequences.put(key, moved)
    hub.store.commit()


def kalent_sends(hub, candidate: str) -> int:
    return sum(n for (vendor, _, cand), n in hub.store.sends().items() if vendor == "kalent" and cand == candidate)


def test_a_kalent_retry_still_not_dispatched_after_the_settle_window_is_never_sent_again(tmp_path):
    """A retry Kalent accepted (started: true) but has not dispatched after the settle window: the
    status read still shows the failed attempt. That is the earlier sequence, not a failed retry, so
    the plan must not start the candidate a third time."""
    root = small_project(tmp_path)
    hub = open_hub(root)
    try:
        assert apply_once(root, hub).ok  # Kalent candidates are first seen absent: started a settle window later
        later(root, hub, 660)
        assert apply_once(root, hub).ok
        assert kalent_sends(hub, "cand_789") == 1
        later(root, hub, 600)
        hub.event("kalent", "error", candidate="cand_789", reason="internal_error")
        later(root, hub, 16 * 60)  # the cached status is re-read: the failure shows
        # Kalent's workflow engine is slow today: the retry shows 30 minutes after its start
        hub.faults.script.append(Fault("dispatch_delay", seconds=1800, method="POST", path=r"/start$"))
        retried = apply_once(root, hub)
        assert [(r.action, r.status) for r in retried.results if "cand_789" in r.address] == [("retry", "ok")]
        assert kalent_sends(hub, "cand_789") == 2
        later(root, hub, 16 * 60)  # past the settle window and the status cache; not dispatched yet
        again = [c for c in plan_changes(root, hub) if "cand_789" in str(c.address)]
        assert [c.action for c in again] == ["manual"], [(c.action, c.reason) for c in again]
        apply_once(root, hub)
        later(root, hub, 3600)  # the retry shows now: it is the one enrollment, running
        after = [c for c in plan_changes(root, hub) if "cand_789" in str(c.address)]
        assert after == [], [(c.action, c.reason) for c in after]
        assert kalent_sends(hub, "cand_789") == 2
    finally:
        hub.store.close()
