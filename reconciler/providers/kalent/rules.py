"""Kalent blueprint step rules, checked at validate time so users see file:line, not a vendor 400.

The rules are the vendor's own (the step table of Kalent's create sequence blueprint page); the
sandbox enforces them on the server side independently, as the real vendor would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

ALLOWED_VARIABLES = frozenset(
    {
        "firstname",
        "lastname",
        "candidateJobTitle",
        "candidateCompanyName",
        "candidateLocation",
        "sourcingJobTitle",
        "sourcingLocation",
        "recruiterFirstname",
        "recruiterLastname",
    }
)
INVITE_TYPES = frozenset({"LINKEDIN_INVITATION", "LINKEDIN_INVITATION_WITH_MESSAGE"})
_VARIABLE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def step_problems(steps: list[dict[str, Any]]) -> Iterator[tuple[int, str, str]]:
    """(step index, field, message) for every rule a list of steps breaks."""
    seen_ids: dict[Any, int] = {}  # ids as the manifest gives them (schema-checked before)
    invites: list[int] = []
    for i, step in enumerate(steps):
        kind = step.get("type")
        step_id = step.get("id")
        if step_id in seen_ids:
            yield i, "id", f"step id {step_id!r} is already used by step {seen_ids[step_id] + 1}"
        else:
            seen_ids[step_id] = i
        linkedin_type = step.get("linkedInType")
        if kind == "LINKEDIN" and not linkedin_type:
            yield i, "type", "a LINKEDIN step needs linkedInType"
        if kind != "LINKEDIN" and linkedin_type:
            yield i, "linkedInType", f"linkedInType is only allowed on LINKEDIN steps, not {kind}"
        if linkedin_type in INVITE_TYPES:
            invites.append(i)
        if "subject" in step and kind != "EMAIL":
            yield i, "subject", f"subject is only allowed on EMAIL steps, not {kind}"
        if kind == "EMAIL" and not step.get("subject"):
            yield i, "type", "an EMAIL step needs a subject"
        # Kalent's step table marks content required on every step (the manifest schema says so);
        # only a plain invitation may send "" (Kalent stores its content as "" anyway).
        if "content" in step and linkedin_type != "LINKEDIN_INVITATION" and not str(step["content"] or "").strip():
            yield i, "content", "content must not be blank (only a plain LINKEDIN_INVITATION may send \"\")"
        temporality = step.get("temporalityType")
        if temporality == "DELAYED" and "delay" not in step:
            yield i, "temporalityType", "a DELAYED step needs delay: {value, unit}"
        if temporality != "DELAYED" and "delay" in step:
            yield i, "delay", f"delay is only allowed when temporalityType is DELAYED, not {temporality}"
        for fld in ("content", "subject"):
            for name in _VARIABLE.findall(str(step.get(fld) or "")):
                if name not in ALLOWED_VARIABLES:
                    allowed = ", ".join("{{" + v + "}}" for v in sorted(ALLOWED_VARIABLES))
                    yield i, fld, f"template variable {{{{{name}}}}} is not allowed (allowed: {allowed})"
    for extra in invites[1:]:
        yield extra, "linkedInType", f"only one invite step is allowed per blueprint (step {invites[0] + 1} is one)"


def compared_steps(steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as desired and live ones are compared: a plain LINKEDIN_INVITATION is stored with content ''."""
    norm = []
    for step in steps:
        step = dict(step)
        if step.get("linkedInType") == "LINKEDIN_INVITATION":
            step["content"] = ""
        norm.append(step)
    return norm
