"""The facts each adapter gives the contact policy, from its vendor's documented shapes: opt-outs,
end times and cadences (docs/vendors.md, "Contact policy facts")."""

from __future__ import annotations

from reconciler.model import Address
from reconciler.providers.clarky import _mapping as clarky
from reconciler.providers.garyclub import _mapping as gary
from reconciler.providers.kalent import _mapping as kalent
from reconciler.snapshot import FAILED, FINISHED

ADDR = Address("p", "membership", "s", "ana")


def test_clarky_stopped_unsubscribed_is_an_opt_out_and_no_usable_channels_is_not():
    stopped = clarky.to_membership(ADDR, {"id": "enr_1", "status": "stopped_unsubscribed",
                                                "created_at": "2026-11-18T09:00:00Z",
                                                "updated_at": "2026-11-20T10:00:00Z"}, attempt=0, observed_at="t")
    assert (stopped.status, stopped.opt_out, stopped.ended_at) == (FINISHED, "unsubscribed", "2026-11-20T10:00:00Z")
    replied = clarky.to_membership(ADDR, {"id": "enr_2", "status": "stopped_reply",
                                                "updated_at": "2026-11-21T10:00:00Z"}, attempt=0, observed_at="t")
    assert (replied.opt_out, replied.ended_at) == (None, "2026-11-21T10:00:00Z")
    failed = clarky.to_membership(ADDR, {"id": "enr_3", "status": "failed",
                                               "generation_error": "no_usable_channels"}, attempt=0, observed_at="t")
    assert (failed.status, failed.unreachable, failed.opt_out, failed.ended_at) == (FAILED, True, None, None)


def test_gary_club_opt_out_words_and_end_time():
    def one(status: str, **row: str):
        return gary.to_membership(ADDR, [{"id": "enr_1", "status": status, "contact_id": "con_1",
                                          "enrolled_at": "2026-11-01T00:00:00Z", **row}], "t")

    assert one("unsubscribed").opt_out == "unsubscribed"
    assert one("failed", failure_reason="do_not_call").opt_out == "do_not_contact"
    assert one("failed", failure_reason="email_bounced").opt_out == "bounced"
    assert one("paused", paused_reason="reply_received").opt_out is None
    assert one("cancelled", updated_at="2026-11-05T00:00:00Z").opt_out is None
    done = one("completed", completed_at="2026-11-02T00:00:00Z", updated_at="2026-11-03T00:00:00Z")
    assert done.ended_at == "2026-11-02T00:00:00Z" and one("active").ended_at is None


def test_gary_club_cadence_from_the_documented_steps():
    row = {"id": "seq_1", "steps": [{"kind": "sms", "wait_minutes": 60, "body": "Hey"},
                                    {"kind": "sms", "wait_minutes": 1440, "body": "Quick follow-up"},
                                    {"kind": "email", "wait_minutes": 30, "body": "Last"}]}
    # The first step runs on the next minute's tick whatever its wait; each later one waits after the one before.
    assert gary.cadence(row) == (("sms", 0.0), ("sms", 86400.0), ("email", 88200.0))


def test_kalent_cadence_from_blueprint_steps():
    steps = [{"type": "LINKEDIN", "temporalityType": "ASAP"},
             {"type": "EMAIL", "temporalityType": "DELAYED", "delay": {"value": 3, "unit": "day"}},
             {"type": "LINKEDIN", "temporalityType": "AFTER_INVITATION_SETTLED"},
             {"type": "WHATSAPP", "temporalityType": "DELAYED", "delay": {"value": 90, "unit": "minute"}}]
    assert kalent.cadence(steps) == (("linkedin", 0.0), ("email", 259200.0), ("linkedin", 259200.0),
                                     ("whatsapp", 264600.0))
    finished = kalent.to_membership(ADDR, {"sequenceId": "s1", "displayStatus": "TALENT_REPLIED",
                                           "updatedAt": "2026-11-20T08:00:00Z"},
                                    candidate_id="cand_1", attempt=0, observed_at="t")
    assert (finished.status, finished.ended_at, finished.opt_out) == (FINISHED, "2026-11-20T08:00:00Z", None)
