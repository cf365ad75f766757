"""Server-side blueprint step rules, as Kalent documents them (the step table of
its create / update sequence blueprint pages).

Written independently of reconciler/providers/kalent/rules.py on purpose: the sandbox plays the vendor, so
a client-side check that drifts from the vendor's rules shows up as a 400 here.

Choices where the docs are silent:
- unknown step keys are rejected (the docs list the accepted fields; strictness catches adapter typos);
- `content` is required on every step, as the step table says; a plain LINKEDIN_INVITATION may
  send any string, "" included (it is stored as ""), every other step a non-blank one;
- `subject` is required on EMAIL steps and rejected on the others;
- AFTER_INVITATION_SETTLED is accepted anywhere (without an earlier invite it behaves as ASAP).
"""

from __future__ import annotations

import re
from typing import Any

STEP_TYPES = ("LINKEDIN", "WHATSAPP", "EMAIL", "SMS")
LINKEDIN_TYPES = ("LINKEDIN_INVITATION", "LINKEDIN_INVITATION_WITH_MESSAGE", "LINKEDIN_MESSAGE", "LINKEDIN_INMAIL")
INVITE_TYPES = ("LINKEDIN_INVITATION", "LINKEDIN_INVITATION_WITH_MESSAGE")
TEMPORALITIES = ("ASAP", "DELAYED", "AFTER_INVITATION_SETTLED")
DELAY_UNITS = {"day": 86400, "minute": 60, "second": 1}
CONTENT_SOURCES = ("manual", "suggestedByKalent")
VARIABLES = frozenset({
    "firstname", "lastname", "candidateJobTitle", "candidateCompanyName", "candidateLocation",
    "sourcingJobTitle", "sourcingLocation", "recruiterFirstname", "recruiterLastname",
})
STEP_KEYS = frozenset({
    "id", "name", "type", "linkedInType", "content", "subject", "temporalityType", "delay",
    "contentSource", "config", "policy",
})
POLICY_KEYS = {"skipStepIfNoContact": bool, "autoValidateAIDraft": bool, "inviteTimeoutDays": int}
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _step_issues(i: int, step: Any) -> list[dict[str, str]]:
    """Every rule one step breaks, as {path, message}."""
    at = f"steps[{i}]"
    if not isinstance(step, dict):
        return [{"path": at, "message": "each step must be an object"}]
    issues = [{"path": f"{at}.{k}", "message": f"unknown step field {k!r}"} for k in step if k not in STEP_KEYS]

    def bad(field: str, message: str) -> None:
        issues.append({"path": f"{at}.{field}" if field else at, "message": message})

    for field in ("id", "name"):
        if not isinstance(step.get(field), str) or not step[field].strip():
            bad(field, f"{field} is required and must be a non-empty string")
    kind = step.get("type")
    if kind not in STEP_TYPES:
        bad("type", f"type must be one of {', '.join(STEP_TYPES)}")
    li_type = step.get("linkedInType")
    if kind == "LINKEDIN" and li_type not in LINKEDIN_TYPES:
        bad("linkedInType",
            f"linkedInType is required for LINKEDIN steps and must be one of {', '.join(LINKEDIN_TYPES)}")
    if kind != "LINKEDIN" and "linkedInType" in step:
        bad("linkedInType", f"linkedInType is only allowed on LINKEDIN steps, not {kind}")
    content = step.get("content")
    if "content" not in step:
        bad("content", "content is required")
    elif not isinstance(content, str):
        bad("content", "content must be a string")
    elif li_type != "LINKEDIN_INVITATION" and not content.strip():
        bad("content", "content must not be blank")
    if kind == "EMAIL":
        if not isinstance(step.get("subject"), str) or not step["subject"].strip():
            bad("subject", "subject is required for EMAIL steps")
    elif "subject" in step:
        bad("subject", f"subject is only allowed on EMAIL steps, not {kind}")
    for field in ("content", "subject"):
        text = step.get(field)
        for name in _VARIABLE.findall(text if isinstance(text, str) else ""):
            if name not in VARIABLES:
                bad(field, f"template variable {{{{{name}}}}} is not allowed")
    temporality = step.get("temporalityType")
    if temporality not in TEMPORALITIES:
        bad("temporalityType", f"temporalityType must be one of {', '.join(TEMPORALITIES)}")
    delay = step.get("delay")
    if temporality == "DELAYED":
        if not isinstance(delay, dict) or set(delay) != {"value", "unit"}:
            bad("delay", "delay {value, unit} is required when temporalityType is DELAYED")
        else:
            if not _is_int(delay["value"]) or delay["value"] <= 0:
                bad("delay.value", "delay.value must be a positive integer")
            if delay["unit"] not in DELAY_UNITS:
                bad("delay.unit", f"delay.unit must be one of {', '.join(DELAY_UNITS)}")
    elif "delay" in step:
        bad("delay", "delay is only allowed when temporalityType is DELAYED")
    if "contentSource" in step and step["contentSource"] not in CONTENT_SOURCES:
        bad("contentSource", f"contentSource must be one of {', '.join(CONTENT_SOURCES)}")
    config = step.get("config")
    if "config" in step and (not isinstance(config, dict) or set(config) - {"userId"}
                             or not isinstance(config.get("userId", ""), str)):
        bad("config", "config may only hold userId (a string)")
    policy = step.get("policy")
    if "policy" in step:
        if not isinstance(policy, dict):
            bad("policy", "policy must be an object")
        else:
            for key, value in policy.items():
                want = POLICY_KEYS.get(key)
                if want is None:
                    bad(f"policy.{key}", f"unknown policy field {key!r}")
                elif want is bool and not isinstance(value, bool):
                    bad(f"policy.{key}", f"policy.{key} must be a boolean")
                elif want is int and (not _is_int(value) or value <= 0):
                    bad(f"policy.{key}", f"policy.{key} must be a positive integer")
    return issues


def step_issues(steps: Any) -> list[dict[str, str]]:
    """Every rule a step list breaks (empty list: valid)."""
    if not isinstance(steps, list):
        return [{"path": "steps", "message": "steps must be an array"}]
    issues: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    invites: list[int] = []
    for i, step in enumerate(steps):
        issues.extend(_step_issues(i, step))
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("id"), str):
            if step["id"] in seen:
                issues.append({"path": f"steps[{i}].id",
                               "message": f"duplicate step id {step['id']!r} (also steps[{seen[step['id']]}])"})
            seen.setdefault(step["id"], i)
        if step.get("type") == "LINKEDIN" and step.get("linkedInType") in INVITE_TYPES:
            invites.append(i)
    for extra in invites[1:]:
        issues.append({"path": f"steps[{extra}].linkedInType",
                       "message": "only one invite step is allowed per blueprint"})
    return issues


def stored_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as Kalent keeps them: a plain LINKEDIN_INVITATION's content becomes ""."""
    out = []
    for step in steps:
        step = dict(step)
        if step.get("linkedInType") == "LINKEDIN_INVITATION":
            step["content"] = ""
        out.append(step)
    return out


def channels(steps: list[dict[str, Any]]) -> list[str]:
    """The unique step types, in order of first use (the blueprint's `channels`)."""
    return list(dict.fromkeys(s["type"] for s in steps))
