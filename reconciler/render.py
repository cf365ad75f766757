"""Pure functions Plan -> str: text for terminals, JSON for machines, Markdown for PR comments."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from reconciler.comment import DEFAULT_BUDGET, Masker, Page, keep_all, left_out, tally
from reconciler.contact_policy.forecast import forecast_lines, forecast_table
from reconciler.plan_types import Change, Plan
from reconciler.vocabulary import Action, Kind

MARKER = "<!-- campaignctl-plan -->"
SYMBOLS = {Action.ENROLL: "+", Action.CREATE: "+", Action.UPDATE: "~", Action.MOVE: "~", Action.UNARCHIVE: "~",
           Action.ADOPT: "~", Action.ARCHIVE: "-", Action.DELETE: "-", Action.STOP: "-", Action.RENAME: "~",
           Action.MANUAL: "!", Action.SKIP: "!", Action.RETRY: "!", Action.DEFER: ">"}
COLORS = {"+": "32", "~": "33", "-": "31", "!": "35", ">": "36"}
GROUP_LIMIT = 20
SUMMARY_WORDS = [(Action.ENROLL, "to enroll"), (Action.RETRY, "to retry"), (Action.CREATE, "to create"),
                 (Action.UPDATE, "to update"), (Action.MOVE, "to move"), (Action.UNARCHIVE, "to unarchive"),
                 (Action.ADOPT, "to adopt"), (Action.ARCHIVE, "to archive"), (Action.DELETE, "to delete"),
                 (Action.STOP, "to stop"), (Action.RENAME, "renamed"), (Action.MANUAL, "manual"),
                 (Action.SKIP, "skipped"), (Action.DEFER, "deferred")]
GROUP_WORDS: dict[str, str] = {Kind.MEMBERSHIP: "sequence", Kind.CARD: "pipeline", Kind.BLUEPRINT: "blueprints in"}


def summary_line(plan: Plan) -> str:
    """'Plan: 12 to enroll, 3 to move, 2 manual; 4,210 unchanged.'"""
    counts = plan.counts()
    parts = [f"{counts[a]:,} {word}" for a, word in SUMMARY_WORDS if counts[a]]
    if not parts:
        return f"No changes. {plan.unchanged:,} unchanged; live matches the manifests."
    return f"Plan: {', '.join(parts)}; {plan.unchanged:,} unchanged."


def group_of(change: Change) -> tuple[str, str]:
    """(provider, 'sequence X' | 'pipeline X' | 'blueprints in X') for grouping."""
    kind = GROUP_WORDS[change.address.kind]
    return change.address.provider, f"{kind} {change.address.group}"


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _detail(change: Change) -> str:
    """The one-line gist of a change after its address."""
    if change.action.sends:
        text = "SENDS MESSAGES WITHIN SECONDS (auto_approve)" if change.loud else "sends messages (irreversible)"
        if change.attempt:
            text += f", attempt {change.attempt + 1}"
        return f"{text}; {change.reason}" if change.reason and not change.loud else text
    if change.action == Action.CREATE and change.after and "stage" in change.after:
        return f"in {change.after['stage']}: {_fmt(change.after['title'])}"
    if change.action == Action.CREATE:
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
            out.append(f"  … and {len(rest):,} more ({tally(c.action for c in rest)}); --full lists all")
        out.append("")
    if plan.diverged:
        out.append("Diverged (allowed by policy):")
        for d in plan.diverged:
            out.append(f"  = {d.address}  {d.path}: live {_fmt(d.live)}, manifest {_fmt(d.desired)} ({d.why})")
        out.append("")
    for warning in plan.warnings:
        out.append(f"Warning: {warning}")
    out.extend(forecast_lines((plan.policy or {}).get("forecast")))
    sends = sum(1 for c in plan.changes if c.irreversible and c.action.sends)
    if sends:
        loud = sum(1 for c in plan.changes if c.loud and c.action.sends)
        extra = f", {loud:,} of them with auto_approve (sent within seconds)" if loud else ""
        out.append(f"Irreversible: {sends:,} enrollment{'s' if sends != 1 else ''} will send real messages{extra}.")
    for flag, reason in plan.safety:
        out.append(f"Refused without {flag}: {reason}.")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"


def render_json(plan: Plan) -> str:
    """The plan JSON (docs/plan-json.md, schemas/plan.schema.json): stable key order, changes sorted by address."""
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask emails (m***@example.com), phones (+*******67) and the given names (M***)."""
    return Masker(names)(text)


def _sends_line(plan: Plan) -> str | None:
    sends = sum(1 for c in plan.changes if c.irreversible and c.action.sends)
    if not sends:
        return None
    loud = sum(1 for c in plan.changes if c.loud and c.action.sends)
    extra = f", {loud:,} of them with auto_approve (sent within seconds)" if loud else ""
    plural = "s" if sends != 1 else ""
    return f"> :warning: **{sends:,} irreversible enrollment{plural}** will send real messages{extra}."


def render_markdown(plan: Plan, *, mask_pii: bool = False, names: Iterable[str] = (), budget: int = DEFAULT_BUDGET,
                    full_plan: str | None = None) -> str:
    """A PR comment of at most `budget` characters (masked when `mask_pii`), marker first (CI updates one
    comment in place). Always: totals, irreversible sends, safety refusals, every warning, then the
    per-group table, diverged items and as many change lines as fit, group by group, with
    "… and N more (counts by action)" where it cuts and a pointer to `full_plan` (where the whole plan
    is, e.g. a workflow artifact) or to `campaignctl plan --full`."""
    page = Page(budget, Masker(names) if mask_pii else None)
    page.add(MARKER, "### campaignctl plan", "", f"**{summary_line(plan)}**", "")
    sends = _sends_line(plan)
    if sends:
        page.add(sends, "")
    volume = forecast_table((plan.policy or {}).get("forecast"))
    if volume:
        page.add(*volume, "")
    for flag, reason in plan.safety:
        page.add(f"> :no_entry: Refused without `{flag}`: {reason}.", "")
    reserve = page.cost(_tail(plan.changes, full_plan, budget))
    diverged = [f"- `{d.address}` {d.path}: live {_fmt(d.live)}, manifest {_fmt(d.desired)} ({d.why})"
                for d in plan.diverged]
    diverged_head = ["**Diverged (allowed by policy)**", ""]
    # However long the warnings, the diverged section keeps room for at least its count.
    diverged_room = page.cost([*diverged_head, left_out(len(diverged), "diverged items"), ""]) if diverged else 0
    if plan.warnings:
        keep_all(page, [f"**Warnings ({len(plan.warnings):,})**", ""], [f"- {w}" for w in plan.warnings],
                 reserve + diverged_room, "warnings")
    groups = _grouped(plan.changes)
    _table(page, plan, groups, reserve + diverged_room)
    if diverged:
        keep_all(page, diverged_head, diverged, reserve, "diverged items")
    shown = _change_lines(page, groups, reserve)
    left = [c for changes in groups.values() for c in changes][shown:]
    if left or full_plan:
        page.add(*_tail(left, full_plan, budget))
    return page.text()


def _table(page: Page, plan: Plan, groups: dict[tuple[str, str], list[Change]], reserve: int) -> None:
    """The per-group counts; rows that do not fit are summed up in one last row."""
    if not groups:
        return
    actions = [a for a, _ in SUMMARY_WORDS if any(c.action == a for c in plan.changes)]
    items = list(groups.items())
    # The summing row can only get shorter as rows are shown: room for the longest one is enough.
    longest = page.cost([_rest_row(actions, len(items), Counter(c.action for c in plan.changes)), ""])
    if not page.offer(["| provider | group | " + " | ".join(actions) + " |", "|---|---|" + "---|" * len(actions)],
                      reserve + longest):
        return
    for i, ((provider, group), changes) in enumerate(items):
        counts = Counter(c.action for c in changes)
        row = f"| {provider} | {group} | " + " | ".join(str(counts.get(a, "")) for a in actions) + " |"
        if not page.offer([row], reserve + longest):
            page.add(_rest_row(actions, len(items) - i, Counter(c.action for _, cs in items[i:] for c in cs)))
            break
    page.add("")


def _rest_row(actions: list[Action], n_groups: int, counts: Counter[str]) -> str:
    return f"| … | {n_groups:,} more groups | " + " | ".join(f"{counts.get(a, 0):,}" for a in actions) + " |"


def _change_lines(page: Page, groups: dict[tuple[str, str], list[Change]], reserve: int) -> int:
    """Each group's changes in a collapsed diff block, as many as fit; returns how many were shown."""
    shown = 0
    close = ["```", "", "</details>", ""]
    for (provider, group), changes in groups.items():
        plural = "s" if len(changes) != 1 else ""
        head = [f"<details><summary>{provider} · {group} ({len(changes):,} change{plural})</summary>", "", "```diff"]
        # The cut line only gets shorter as lines are shown: keep room for the group's longest one.
        room = reserve + page.cost([*close, _cut_line(changes)])
        if not page.offer(head, room):
            return shown
        for i, change in enumerate(changes):
            if not page.offer(_lines(change), room):
                page.add(_cut_line(changes[i:]), *close)
                return shown
            shown += 1
        page.add(*close)
    return shown


def _cut_line(left: list[Change]) -> str:
    return f"… and {len(left):,} more ({tally(c.action for c in left)})"


def _tail(left: list[Change], full_plan: str | None, budget: int) -> list[str]:
    """The closing lines: the changes left out, and where the whole plan is. Given every change, the
    longest they can be: what the budget keeps free for them."""
    where = full_plan or "`campaignctl plan --full` (text) or `--format json`"
    out: list[str] = []
    if left:
        plural = "s" if len(left) != 1 else ""
        out += [(f"… and {len(left):,} more change{plural} ({tally(c.action for c in left)}) not shown: this "
                 f"comment is kept under {budget:,} characters."), ""]
    out.append(f"**Full plan:** {where}")
    return out
