"""Kalent vendor JSON <-> neutral model: paths, status mapping, blueprints, clearer start errors.

Everything that knows a Kalent field name lives here or in the provider next to it; nothing
returned from this module carries vendor JSON except a blueprint's steps, which the manifest
declares in the vendor's own shape on purpose (docs/manifest.md, blueprints).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from reconciler.errors import AuthError, PaymentRequired, ProviderError
from reconciler.model import Address, Blueprint
from reconciler.providers._paging import listed_total as _listed
from reconciler.providers.base import StatusReading
from reconciler.providers.discovered import FoundBlueprint, FoundSourcing, text
from reconciler.snapshot import ACTIVE, CONFLICT_REASON, FAILED, FINISHED, PAUSED, LiveBlueprint, LiveMembership, Shown

log = logging.getLogger(__name__)
PAGE_SIZE = 50  # the documented maximum of every Kalent list
BATCH_SIZE = 100  # "100 max per call" for start (vendor-side agent skills)

# displayStatus -> (neutral status, reason). ACTION_REQUIRED still sends once a person acts.
DISPLAY_STATUS: dict[str, tuple[str, str | None]] = {
    "SCHEDULED": (ACTIVE, None),
    "ACTION_REQUIRED": (ACTIVE, "action_required"),
    "WAITING_FOR_ACCEPTANCE": (ACTIVE, None),
    "PAUSED": (PAUSED, None),
    "TALENT_REPLIED": (FINISHED, "talent_replied"),
    "COMPLETED": (FINISHED, "completed"),
    "ERROR": (FAILED, None),
}
# rawStatus words that refine the display status (lower-cased substrings).
FINISHED_WORDS = ("replied", "declined", "completed", "finished", "stopped", "cancel")
UNREACHABLE_WORDS = ("unreachable", "no_contact", "not_reachable", "no_channel", "no_usable", "missing_contact",
                     "invalid_email", "no_email", "no_linkedin", "not_found")
CHANNELS = {"linkedin": "LinkedIn", "whatsapp": "WhatsApp", "email": "email (Gmail, Outlook or IMAP)"}


def data_of(body: Any) -> Any:
    """The `data` member of a success envelope ({success: true, data: ...})."""
    return body.get("data") if isinstance(body, Mapping) else None


def listed_total(body: Any) -> int | None:
    """Kalent lists say how many items exist: `data.pagination.total`."""
    return _listed(data_of(body) or {}, "pagination.total")


def more_pages(body: Any, items: list[Any], page: int) -> bool:
    """Kalent pagination: `data.pagination.hasNextPage`."""
    pagination = (data_of(body) or {}).get("pagination") or {}
    return bool(pagination.get("hasNextPage"))


# -- dynamic sequences ----------------------------------------------------------------------------
def sequence_blueprint(sequence: Mapping[str, Any]) -> str | None:
    """The blueprint a candidate's dynamic sequence was started from, when the vendor says."""
    return sequence.get("blueprintId") or sequence.get("sequenceBlueprintId")


def belongs_to(sequence: Mapping[str, Any], blueprint_id: str | None, blueprint_name: str | None) -> bool:
    """Whether this dynamic sequence was started from our blueprint (by id, else by its name)."""
    remote = sequence_blueprint(sequence)
    if remote is not None:
        return blueprint_id is not None and remote == blueprint_id
    return blueprint_name is not None and sequence.get("name") == blueprint_name


def started_at(sequence: Mapping[str, Any]) -> str | None:
    return sequence.get("startedAt") or sequence.get("createdAt")


def to_status(sequence: Mapping[str, Any]) -> StatusReading:
    """The neutral reading of one dynamic sequence; an unknown display status reads as ACTIVE."""
    display = str(sequence.get("displayStatus") or "").upper()
    raw = str(sequence.get("rawStatus") or "")
    error = sequence.get("errorReason") or sequence.get("error")
    if isinstance(error, Mapping):
        error = error.get("code") or error.get("message")
    status, reason = DISPLAY_STATUS.get(display, (ACTIVE, None))  # unknown words may still send: active
    action = sequence.get("actionRequired")
    if display == "ACTION_REQUIRED" and isinstance(action, Mapping) and action.get("reason"):
        reason = str(action["reason"])
    word = display or raw or "UNKNOWN"
    lowered = f"{raw} {error or ''}".lower()
    if status == ACTIVE and display not in DISPLAY_STATUS and any(w in lowered for w in FINISHED_WORDS):
        status = FINISHED
    if status == FINISHED and "declined" in lowered:
        reason = "declined"
    known = display in DISPLAY_STATUS
    if status == FAILED:
        reason = str(error) if error else (raw.lower() or "error")
        return StatusReading(status, word, reason, any(w in lowered for w in UNREACHABLE_WORDS), known)
    return StatusReading(status, word, reason, False, known)


def to_membership(address: Address, sequence: Mapping[str, Any], *, candidate_id: str, attempt: int,
                  observed_at: str, conflict: str | None = None) -> LiveMembership:
    """A LiveMembership from a candidate's dynamic sequence."""
    reading = to_status(sequence)
    return LiveMembership(
        address=address, remote_id=sequence.get("sequenceId"), status=reading.status,
        vendor_status=reading.vendor_status, reason=CONFLICT_REASON if conflict else reading.reason,
        unreachable=reading.unreachable and not conflict, attempt=attempt,
        since=started_at(sequence), observed_at=observed_at, contact_remote_id=candidate_id, conflict=conflict,
        ended_at=sequence.get("updatedAt") if reading.status == FINISHED else None,
    )


def shown(sequence: Mapping[str, Any], candidate_id: str, read_at: str) -> Shown:
    """What Kalent showed for a candidate, as the core's merge compares it with a recorded start."""
    return Shown(person=candidate_id, remote_id=sequence.get("sequenceId"), status=to_status(sequence).status,
                 said=sequence.get("displayStatus"), started_at=started_at(sequence), read_at=read_at)


DELAY_SECONDS = {"day": 86400.0, "minute": 60.0, "second": 1.0}


def cadence(steps: Any) -> tuple[tuple[str, float], ...]:
    """(channel, seconds after the start) of each blueprint step: `ASAP` right after the step before,
    `DELAYED` its `delay` after it; `AFTER_INVITATION_SETTLED` waits on the candidate, so it is placed
    as early as it could fire (the forecast is the most a start sends, never less)."""
    out: list[tuple[str, float]] = []
    at = 0.0
    for step in steps or ():
        if step.get("temporalityType") == "DELAYED":
            delay = step.get("delay") or {}
            at += float(delay.get("value") or 0) * DELAY_SECONDS.get(str(delay.get("unit")), 0.0)
        out.append((str(step.get("type") or "unknown").lower(), at))
    return tuple(out)


def conflict_text(candidate_id: str, sequence: Mapping[str, Any], ours: str) -> str:
    """Why enrolling this candidate is unsafe: Kalent runs one dynamic sequence per candidate."""
    other = sequence.get("name") or sequence_blueprint(sequence) or sequence.get("sequenceId") or "another sequence"
    status = sequence.get("displayStatus") or sequence.get("rawStatus") or "?"
    return (f"candidate {candidate_id} is in Kalent sequence {other!r} ({status}), not blueprint {ours!r}; "
            "starting ours would run over it: decide in the Kalent UI")


# -- blueprints -----------------------------------------------------------------------------------
def to_blueprint(address: Address, item: Mapping[str, Any], *, fallback_steps: Any = ()) -> LiveBlueprint:
    """A LiveBlueprint; steps stay in the vendor's shape as returned."""
    steps = item.get("steps")
    if steps is None:
        steps = fallback_steps
    return LiveBlueprint(address=address, remote_id=str(item.get("blueprintId") or item.get("id")),
                         name=str(item.get("name") or ""), steps=tuple(dict(s) for s in steps),
                         sourcing_id=item.get("sourcingId"))


def match_blueprint(bp: Blueprint, items: list[dict[str, Any]]) -> LiveBlueprint | None:
    """The live blueprint named as `bp` among a sourcing's blueprints (the first, with a warning, if several)."""
    named = [i for i in items if i.get("name") == bp.name]
    if len(named) > 1:
        log.warning("%s: %d Kalent blueprints are named %r; using the first", bp.address, len(named), bp.name)
    return to_blueprint(bp.address, named[0]) if named else None


# -- discovery (campaignctl import) ---------------------------------------------------------------
def to_found_sourcing(item: Mapping[str, Any]) -> FoundSourcing:
    return FoundSourcing(str(item["sourcingId"]), text(item.get("name")))


def to_found_blueprint(item: Mapping[str, Any]) -> FoundBlueprint:
    """A blueprint as import sees it; its steps as the vendor returns them (the manifests' form)."""
    return FoundBlueprint(str(item.get("blueprintId")), text(item.get("name")),
                          tuple(dict(step) for step in item.get("steps") or []))


def candidate_id(item: Mapping[str, Any]) -> str:
    """The id of a sourcing's candidate list item (the talent's id, with or without its `candidate` wrapper)."""
    return str((item.get("candidate") or item).get("id"))


def blueprint_body(name: str, steps: Any) -> dict[str, Any]:
    """Create/PATCH body: the name and the whole step list (PATCH replaces all steps)."""
    return {"name": name, "steps": [dict(step) for step in steps]}


# -- start errors ---------------------------------------------------------------------------------
def about_candidates(exc: ProviderError) -> bool:
    """A start refused because of some of its candidates (unknown id, another sourcing), not the whole call."""
    if exc.status == 404:
        return "blueprint" not in exc.vendor_message.lower()
    return exc.status in (400, 422) and "candidate" in f"{exc.vendor_message} {exc.details}".lower() \
        and "at most" not in exc.vendor_message.lower()


def explain_start_error(exc: ProviderError) -> ProviderError:
    """The same typed error with a message that says what to do (channels, plan, credits)."""
    detail = str(exc.details.get("code") or "")
    message = None
    if isinstance(exc, AuthError) and detail.endswith("_not_connected_or_syncing"):
        channel = CHANNELS.get(detail.split("_", 1)[0], detail.split("_", 1)[0])
        message = (f"the {channel} account is not connected or not synced in Kalent ({detail}); connect it in "
                   f"Kalent, then apply again. Nothing was sent")
    elif detail == "linkedin_inmail_not_available":
        message = ("LinkedIn InMail steps need LinkedIn Recruiter or Sales Navigator connected in Kalent "
                   f"({detail}). Nothing was sent")
    elif isinstance(exc, PaymentRequired):
        url = exc.details.get("billingUrl")
        what = "credits are exhausted" if exc.code == "insufficient_credits" else \
            "the Kalent plan does not include outreach integrations"
        message = f"{what} ({exc.code}); subscribe or upgrade" + (f" at {url}" if url else " in Kalent billing") + \
            ". Nothing was sent"
    if message is None:
        return exc
    return type(exc)(exc.vendor, exc.method, exc.path, exc.status, f"{message} (Kalent: {exc.vendor_message})",
                     code=exc.code, request_id=exc.request_id, details=exc.details)
