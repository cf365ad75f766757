"""Pure functions Plan -> str: text for terminals, JSON for machines, Markdown for PR comments."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any, Iterable

from reconciler.plan_types import Change, Plan

MARKER = "<!-- campaignctl-plan -->"
SYMBOLS = {"enroll": "+", "create": "+", "update": "~", "move": "~", "unarchive": "~", "adopt": "~",
           "archive": "-", "delete": "-", "stop": "-", "manual": "!", "skip": "!", "retry": "!", "defer": ">"}
COLORS = {"+": "32", "~": "33", "-": "31", "!": "35", ">": "36"}
GROUP_LIMIT = 20
SUMMARY_WORDS = [("enroll", "to enroll"), ("retry", "to retry"), ("create", "to create"), ("update", "to update"),
                 ("move", "to move"), ("unarchive", "to unarchive"), ("adopt", "to adopt"), ("archive", "to archive"),
                 ("delete", "to delete"), ("stop", "to stop"), ("manual", "manual"), ("skip", "skipped"),
                 ("defer", "deferred")]
# Any letters, not only ASCII (josé.núñez@correo.es, 何@例え.jp): everything but what delimits an
# email in our output. '*' is excluded so that a masked m***@example.com is never masked again.
_EMAIL_CHAR = r"[^\s@<>()\[\]{}\"`|,;:*\\]"
EMAIL = re.compile(rf"({_EMAIL_CHAR}){_EMAIL_CHAR}*@((?:[^\W_]|[.-])+\.[^\W\d_]{{2,}})")
PHONE = re.compile(r"\+\d{6,14}(\d{2})")


def summary_line(plan: Plan) -> str:
    """'Plan: 12 to enroll, 3 to move, 2 manual; 4,210 unchanged.'"""
    counts = plan.counts()
    parts = [f"{counts[a]:,} {word}" for a, word in SUMMARY_WORDS if counts[a]]
    if not parts:
        return f"No changes. {plan.unchanged:,} unchanged; live matches the manifests."
    return f"Plan: {', '.join(parts)}; {plan.unchanged:,} unchanged."


def group_of(change: Change) -> tuple[str, str]:
    """(provider, 'sequence X' | 'pipeline X' | 'blueprints in X') for grouping."""
    kind = {"membership": "sequence", "card": "pipeline", "blueprint": "blueprints in"}[change.address.kind]
    return change.address.provider, f"{kind} {change.address.group}"


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _detail(change: Change) -> str:
    """The one-line gist of a change after its address."""
    if change.action in ("enroll", "retry"):
        text = "SENDS MESSAGES WITHIN SECONDS (auto_approve)" if change.loud else "sends messages (irreversible)"
        if change.attempt:
            text += f", attempt {change.attempt + 1}"
        return f"{text}; {change.reason}" if change.reason and not change.loud else text
    if change.action == "create" and change.after and "stage" in change.after:
        return f"in {change.after['stage']}: {_fmt(change.after['title'])}"
    if change.action == "create":
        return f"{len(change.after.get('steps', [])) if change.after else 0} steps"
    return change.reason or ""


def _lines(change: Change) -> list[str]:
    sym = SYMBOLS[change.action]
    head = f"{sym} {change.action:<9} {change.address}"
    detail = _detail(change)
    out = [f"{head}  {detail}".rstrip()]
    for fc in change.field_changes:
        out.append(f"      {fc.path}: {_fmt(fc.before)} -> {_fmt(fc.after)}")
    return out


def _grouped(changes: Iterable[Change]) -> dict[tuple[str, str], list[Change]]:
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        groups[group_of(change)].append(change)
    return dict(sorted(groups.items()))


def _paint(line: str, color: bool) -> str:
    if not color or not line or line[0] not in COLORS:
        return line
    return f"\x1b[{COLORS[line[0]]}m{line}\x1b[0m"


def render_text(plan: Plan, *, full: bool = False, color: bool = False) -> str:
    """Grouped by provider and sequence/pipeline, one line per change, then one summary line."""
    out: list[str] = []
    for (provider, group), changes in _grouped(plan.changes).items():
        out.append(f"{provider} · {group}")
        shown = changes if full else changes[:GROUP_LIMIT]
        for change in shown:
            out.extend("  " + _paint(line, color) if i == 0 else "  " + line for i, line in enumerate(_lines(change)))
        rest = changes[len(shown):]
        if rest:
            tally = Counter(c.action for c in rest)
            out.append(f"  … and {len(rest):,} more ({', '.join(f'{n:,} {a}' for a, n in sorted(tally.items()))}); --full lists all")
        out.append("")
    if plan.diverged:
        out.append("Diverged (allowed by policy):")
        for d in plan.diverged:
            out.append(f"  = {d.address}  {d.path}: live {_fmt(d.live)}, manifest {_fmt(d.desired)} ({d.why})")
        out.append("")
    for warning in plan.warnings:
        out.append(f"Warning: {warning}")
    sends = sum(1 for c in plan.changes if c.irreversible and c.action in ("enroll", "retry"))
    if sends:
        loud = sum(1 for c in plan.changes if c.loud and c.action in ("enroll", "retry"))
        extra = f", {loud:,} of them with auto_approve (sent within seconds)" if loud else ""
        out.append(f"Irreversible: {sends:,} enrollment{'s' if sends != 1 else ''} will send real messages{extra}.")
    for flag, reason in plan.safety:
        out.append(f"Refused without {flag}: {reason}.")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"


def render_json(plan: Plan) -> str:
    """The plan JSON of SPEC §4: stable key order, changes sorted by address."""
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask emails (m***@example.com), phones (+*******67) and the given names (M***)."""
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = PHONE.sub(lambda m: "+" + "*" * 7 + m.group(1), text)
    for name in sorted({n for n in names if n and len(n) > 1}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w*]){re.escape(name)}(?!\w)", name[0] + "***", text)
    return text


def render_markdown(plan: Plan, *, mask_pii: bool = False, names: Iterable[str] = ()) -> str:
    """A PR comment: marker first (CI updates one comment in place), a summary table, details per group."""
    out = [MARKER, f"### campaignctl plan", "", f"**{summary_line(plan)}**", ""]
    sends = sum(1 for c in plan.changes if c.irreversible and c.action in ("enroll", "retry"))
    if sends:
        out += [f"> :warning: **{sends:,} irreversible enrollment{'s' if sends != 1 else ''}** will send real messages.", ""]
    for flag, reason in plan.safety:
        out += [f"> :no_entry: Refused without `{flag}`: {reason}.", ""]
    groups = _grouped(plan.changes)
    if groups:
        actions = [a for a, _ in SUMMARY_WORDS if any(c.action == a for c in plan.changes)]
        out.append("| provider | group | " + " | ".join(actions) + " |")
        out.append("|---|---|" + "---|" * len(actions))
        for (provider, group), changes in groups.items():
            tally = Counter(c.action for c in changes)
            out.append(f"| {provider} | {group} | " + " | ".join(str(tally.get(a, "")) for a in actions) + " |")
        out.append("")
        for (provider, group), changes in groups.items():
            out += [f"<details><summary>{provider} · {group} ({len(changes)} change{'s' if len(changes) != 1 else ''})</summary>",
                    "", "```diff"]
            for change in changes:
                out.extend(_lines(change))
            out += ["```", "", "</details>", ""]
    if plan.diverged:
        out += ["<details><summary>Diverged (allowed by policy)</summary>", ""]
        out += [f"- `{d.address}` {d.path}: live {_fmt(d.live)}, manifest {_fmt(d.desired)} ({d.why})" for d in plan.diverged]
        out += ["", "</details>", ""]
    text = "\n".join(out).rstrip() + "\n"
    return mask_text(text, names) if mask_pii else text
