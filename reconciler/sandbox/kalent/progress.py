"""Dynamic sequences: one per (start call, candidate), progressing lazily on the simulated clock.

A stored sequence keeps a snapshot of its blueprint's steps, the times of the steps already
materialised (`sent`), the time the next delay counts from (`anchor`) and a `state`. Reads never
write: `advance(seq, now)` computes which steps have fired by `now`. Events materialise the
progress at the event's time and then freeze or resume the sequence.

Choices where the docs are silent:
- a start becomes visible on the status endpoint `dispatch_delay` after the call (asynchronous
  workflow dispatch); until then the candidate shows their previous sequence, or null;
- ASAP fires at the anchor, DELAYED at anchor + delay, AFTER_INVITATION_SETTLED when the invite is
  accepted or `inviteTimeoutDays` (step policy, then the invite step's, then config, default 7)
  after it was sent; without an earlier invite it acts as ASAP;
- WAITING_FOR_ACCEPTANCE shows while a sent invite is unsettled and nothing else is due first;
  SCHEDULED while steps remain; COMPLETED once every step fired and no invite is pending;
- rawStatus is the workflow engine's word: RUNNING, WAITING_FOR_USER, FAILED, STOPPED, PAUSED, COMPLETED.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import iso
from reconciler.sandbox.kalent.steps import DELAY_UNITS, INVITE_TYPES

DISPLAY_STATUSES = ("SCHEDULED", "ACTION_REQUIRED", "ERROR", "TALENT_REPLIED", "WAITING_FOR_ACCEPTANCE", "COMPLETED",
                    "PAUSED")
# Frozen states keep their display status; RUNNING computes SCHEDULED / WAITING_FOR_ACCEPTANCE / COMPLETED.
FROZEN = {"ACTION_REQUIRED": "ACTION_REQUIRED", "ERROR": "ERROR", "TALENT_REPLIED": "TALENT_REPLIED",
          "PAUSED": "PAUSED", "COMPLETED": "COMPLETED", "WAITING_FOR_ACCEPTANCE": "WAITING_FOR_ACCEPTANCE"}
RAW = {"SCHEDULED": "RUNNING", "WAITING_FOR_ACCEPTANCE": "RUNNING", "ACTION_REQUIRED": "WAITING_FOR_USER",
       "ERROR": "FAILED", "TALENT_REPLIED": "STOPPED", "PAUSED": "PAUSED", "COMPLETED": "COMPLETED"}
DAY = 86400.0


def new_sequence(seq_id: str, blueprint: dict[str, Any], candidate: dict[str, Any], now: float,
                 dispatch_delay: float, timeout_days: int) -> dict[str, Any]:
    """A fresh dynamic sequence for one candidate, with the blueprint's steps snapshotted."""
    invite_timeout = next((s.get("policy", {}).get("inviteTimeoutDays") for s in blueprint["steps"]
                           if s.get("linkedInType") in INVITE_TYPES), None) or timeout_days
    steps = []
    for s in blueprint["steps"]:
        delay = s.get("delay")
        steps.append({
            "id": s["id"], "name": s["name"], "type": s["type"], "temporalityType": s["temporalityType"],
            "invite": s.get("linkedInType") in INVITE_TYPES,
            "delaySeconds": delay["value"] * DELAY_UNITS[delay["unit"]] if delay else 0,
            "timeoutSeconds": (s.get("policy", {}).get("inviteTimeoutDays") or invite_timeout) * DAY,
        })
    start = now + dispatch_delay
    return {
        "sequenceId": seq_id, "blueprintId": blueprint["blueprintId"], "name": blueprint["name"],
        "candidateId": candidate["id"], "sourcingId": candidate["sourcingId"], "createdAt": now,
        "dispatchAt": start, "steps": steps, "sent": [], "anchor": start, "state": "RUNNING",
        "inviteSentAt": None, "inviteTimeout": invite_timeout * DAY, "inviteAcceptedAt": None, "inviteSettledAt": None,
        "stateAt": start, "reason": None,
    }


def _due(step: dict[str, Any], seq: dict[str, Any]) -> float:
    anchor = seq["anchor"]
    if step["temporalityType"] == "DELAYED":
        return anchor + step["delaySeconds"]
    if step["temporalityType"] == "AFTER_INVITATION_SETTLED" and seq["inviteSentAt"] is not None:
        settled = seq["inviteAcceptedAt"] or seq["inviteSentAt"] + step["timeoutSeconds"]
        return max(anchor, settled)
    return anchor


def advance(seq: dict[str, Any], now: float) -> dict[str, Any]:
    """A copy of `seq` with every step that is due by `now` fired (only while RUNNING).

    Shallow: callers only set top-level keys and append to `sent`; the step snapshots are never
    changed after `new_sequence`, so sharing them is safe (a deepcopy per status read was most of
    the simulator's time at 30k candidates)."""
    seq = {**seq, "sent": list(seq["sent"])}
    while seq["state"] == "RUNNING" and len(seq["sent"]) < len(seq["steps"]):
        step = seq["steps"][len(seq["sent"])]
        due = _due(step, seq)
        if due > now:
            break
        seq["sent"].append(due)
        seq["anchor"] = due
        if step["invite"]:
            seq["inviteSentAt"] = due
        elif step["temporalityType"] == "AFTER_INVITATION_SETTLED" and seq["inviteSentAt"] is not None:
            seq["inviteSettledAt"] = due  # accepted or timed out: nothing waits on it any more
    return seq


def _invite_pending(seq: dict[str, Any], now: float) -> bool:
    sent = seq["inviteSentAt"]
    if sent is None or seq["inviteAcceptedAt"] is not None or seq.get("inviteSettledAt") is not None:
        return False
    return now < sent + seq["inviteTimeout"]


def display_status(seq: dict[str, Any], now: float) -> str:
    """The documented displayStatus of an advanced sequence."""
    if seq["state"] != "RUNNING":
        return FROZEN[seq["state"]]
    remaining = seq["steps"][len(seq["sent"]):]
    if _invite_pending(seq, now) and (not remaining or remaining[0]["temporalityType"] == "AFTER_INVITATION_SETTLED"):
        return "WAITING_FOR_ACCEPTANCE"
    return "SCHEDULED" if remaining else "COMPLETED"


def status_view(seq: dict[str, Any], now: float) -> dict[str, Any]:
    """The `sequence` object of GET /candidates/{id}/dynamic-sequence."""
    seq = advance(seq, now)
    shown = display_status(seq, now)
    done = len(seq["sent"])
    current = None
    if done < len(seq["steps"]) and shown not in ("COMPLETED", "TALENT_REPLIED"):
        step = seq["steps"][done]
        due = _due(step, seq) if seq["state"] == "RUNNING" else None
        current = {"index": done, "id": step["id"], "name": step["name"], "type": step["type"],
                   "scheduledAt": iso(due) if due is not None else None}
    times = [seq["createdAt"], seq["stateAt"], *seq["sent"]]
    view: dict[str, Any] = {
        "sequenceId": seq["sequenceId"], "blueprintId": seq["blueprintId"], "name": seq["name"],
        "rawStatus": RAW[shown], "displayStatus": shown,
        "stepCount": len(seq["steps"]), "completedStepCount": done, "currentStep": current,
        "lastStepSentAt": iso(seq["sent"][-1]) if seq["sent"] else None,
        "startedAt": iso(seq["dispatchAt"]),
        "updatedAt": iso(max([t for t in times if t <= now], default=seq["createdAt"])),
    }
    if shown == "ACTION_REQUIRED":
        view["actionRequired"] = {"reason": seq["reason"] or "manual_validation_required"}
    if shown == "ERROR":
        view["errorReason"] = seq["reason"]
    return view


def freeze(seq: dict[str, Any], now: float, state: str, reason: str | None = None) -> dict[str, Any]:
    """Materialise progress up to `now`, then put the sequence in `state` (RUNNING resumes from now)."""
    seq = advance(seq, now)
    if state == "RUNNING":
        seq["anchor"] = max(now, seq["dispatchAt"])
    seq["state"] = state
    seq["stateAt"] = now
    seq["reason"] = reason
    return seq


def accept_invite(seq: dict[str, Any], now: float) -> dict[str, Any]:
    """The candidate accepts the LinkedIn invitation; AFTER_INVITATION_SETTLED steps become due."""
    seq = advance(seq, now)
    if seq["inviteSentAt"] is None:
        raise ValueError(f"no LinkedIn invitation has been sent yet in {seq['sequenceId']}")
    seq["inviteAcceptedAt"] = now
    if seq["state"] == "WAITING_FOR_ACCEPTANCE":
        seq.update(state="RUNNING", anchor=now, stateAt=now)
    return advance(seq, now)
