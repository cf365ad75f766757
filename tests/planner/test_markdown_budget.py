"""The Markdown plan and drift report always fit a pull-request comment (issue 20).

Plans of 10, 1,000 and 100,000 changes stay under the budget and still carry the totals, the
irreversible-send count, every warning, every safety refusal and every diverged item; the change
lines are cut group by group with "… and N more (counts by action)" and a pointer to the full plan.
"""

from __future__ import annotations

import re

import pytest

from reconciler.comment import COMMENT_LIMIT, DEFAULT_BUDGET, EMAIL, PHONE, Masker, size
from reconciler.drift import DriftReport, render_drift_markdown
from reconciler.model import Address
from reconciler.plan_types import Change, Divergence, Plan
from reconciler.render import MARKER, mask_text, render_markdown, render_text, summary_line

ARTIFACT = "artifact `campaignctl-plan-0123abcd` of [the plan run](https://github.example/runs/1)"
ACTIONS = ("enroll", "enroll", "enroll", "move", "create", "manual")


def big_plan(n: int, *, warnings: int = 25, diverged: int = 12) -> Plan:
    """`n` changes over four sequences and two pipelines, with warnings, refusals and diverged items."""
    changes = []
    for i in range(n):
        action = ACTIONS[i % len(ACTIONS)]
        kind, group = ("card", f"pipe{i % 2}") if action in ("move", "create") else ("membership", f"seq{i % 4}")
        changes.append(Change(
            address=Address("clarky" if i % 3 else "garyclub", kind, group, f"contact-{i:06d}"), action=action,
            provider="clarky", irreversible=action == "enroll", before=None,
            after={"stage": "Lead", "title": f"Deal of Person{i:06d}"} if action == "create" else None,
            precondition={}, reason=f"removed from the manifest; email person{i}@example.com" if action == "manual"
            else None, loud=action == "enroll" and i % 7 == 0))
    changes.sort(key=lambda c: str(c.address))
    return Plan(
        changes=changes, unchanged=4_210,
        warnings=[f"Kalent does not know candidate cand_{w:05d}; it is left out of sequence seq{w % 4}"
                  for w in range(warnings)],
        diverged=[Divergence(Address("clarky", "card", "pipe0", f"contact-9{d:05d}"), "stage", "Lead", "Won",
                             "stage_policy: initial") for d in range(diverged)],
        safety=[("--allow-large", f"{n:,} new enrollments exceed max_new_memberships_per_apply (200)"),
                ("--force", "archiving 40% of managed cards exceeds max_removal_fraction (30%)")])


def sends_line(plan: Plan) -> str:
    sends = sum(1 for c in plan.changes if c.irreversible)
    return f"**{sends:,} irreversible enrollment{'s' if sends != 1 else ''}** will send real messages"


@pytest.mark.parametrize("n", [10, 1_000, 100_000])
def test_the_plan_comment_fits_and_keeps_what_reviewers_must_see(n: int) -> None:
    plan = big_plan(n)
    names = {f"Person{i:06d}" for i in range(n)} | {f"contact-{i:06d}" for i in range(n)}
    md = render_markdown(plan, mask_pii=True, names=names, full_plan=ARTIFACT)
    assert size(md) <= DEFAULT_BUDGET < COMMENT_LIMIT - len(MARKER)
    assert md.startswith(MARKER + "\n")
    assert f"**{summary_line(plan)}**" in md
    assert sends_line(plan) in md
    for flag, reason in plan.safety:
        assert f"> :no_entry: Refused without `{flag}`: {reason}." in md
    for warning in plan.warnings:
        assert f"- {warning}\n" in md
    for d in plan.diverged:
        assert f"`{d.address}` stage: live \"Won\", manifest \"Lead\"" in md
    assert md.rstrip().endswith(f"**Full plan:** {ARTIFACT}")
    assert "person1@example.com" not in md and "Person000001" not in md  # masked, and measured masked
    lines = md.count("\n+ enroll ") + md.count("\n~ move ") + md.count("\n+ create ") + md.count("\n! manual ")
    if n == 10:
        assert lines == 10 and "more" not in md
        return
    assert 0 < lines < n
    left = re.search(r"\n… and ([\d,]+) more changes \(([^)]*)\) not shown", md)
    assert left and int(left.group(1).replace(",", "")) == n - lines
    counted = sum(int(part.split()[0].replace(",", "")) for part in left.group(2).split(", "))
    assert counted == n - lines
    assert re.search(r"\n… and [\d,]+ more \([\d,]+ \w+(, [\d,]+ \w+)*\)\n```", md)  # where a group is cut


def test_every_group_is_in_the_table_when_it_fits() -> None:
    plan = big_plan(100_000)
    md = render_markdown(plan)
    for group in ("pipeline pipe0", "pipeline pipe1", "sequence seq0", "sequence seq3"):
        assert f"| {group} |" in md


def test_warnings_are_never_cut_before_anything_else_is() -> None:
    """Warnings and refusals come before the table and the change lines: with 300 warnings and
    100,000 changes, every warning is there and the change lines give way."""
    plan = big_plan(100_000, warnings=300)
    md = render_markdown(plan)
    assert size(md) <= DEFAULT_BUDGET
    assert all(f"- {w}\n" in md for w in plan.warnings)


def test_even_absurdly_many_warnings_stay_under_the_budget() -> None:
    """The one case the budget wins over a complete list: 5,000 warnings cannot fit in any comment; the
    comment says how many it left out and where they all are."""
    plan = big_plan(1_000, warnings=5_000)
    md = render_markdown(plan, full_plan=ARTIFACT)
    assert size(md) <= DEFAULT_BUDGET
    found = re.search(r"- … and ([\d,]+) more warnings, too many for this comment", md)
    assert found and md.count("- Kalent does not know") + int(found.group(1).replace(",", "")) == 5_000
    assert "Refused without `--force`" in md and md.rstrip().endswith(ARTIFACT)


def test_the_budget_is_configurable() -> None:
    plan = big_plan(1_000)
    for budget in (8_000, 20_000):
        md = render_markdown(plan, budget=budget)
        assert size(md) <= budget and all(w in md for w in plan.warnings)
        assert "**Full plan:** `campaignctl plan --full` (text) or `--format json`" in md


def test_emoji_count_double_as_on_github() -> None:
    """GitHub counts UTF-16 code units: an emoji is two, so the budget counts it as two."""
    assert size("😀") == 2 and size("é") == 1
    plan = big_plan(1_000)
    plan.warnings.append("😀" * 300)
    md = render_markdown(plan, budget=10_000)
    assert size(md) <= 10_000 < len(md.encode("utf-16-le"))


def test_the_text_plan_shows_every_warning_the_markdown_shows() -> None:
    plan = big_plan(10)
    text = render_text(plan, full=True)
    assert all(f"Warning: {w}" in text for w in plan.warnings)


def test_masker_matches_the_per_name_masking() -> None:
    """One pass with an index gives what a regex per name gave (longest name first, whole words)."""
    names = ["Ana", "Ana-Maria", "Bob", "Lee", "maria-garcia", "Mary Ann", "O'Brien", "Z"]
    text = ("Ana-Maria met Ana, Anabel and Bob's friend Mary Ann O'Brien; maria-garcia wrote to "
            "maria@example.com and called +34911234567. Lee*, *Lee and Leeds stay. Z stays.")

    def by_regex(line: str) -> str:
        line = EMAIL.sub(r"\1***@\2", line)
        line = PHONE.sub(lambda m: "+*******" + m.group(1), line)
        for name in sorted({n for n in names if len(n) > 1}, key=len, reverse=True):
            line = re.sub(rf"(?<![\w*]){re.escape(name)}(?!\w)", name[0] + "***", line)
        return line

    assert Masker(names)(text) == by_regex(text) == mask_text(text, names)
    assert "A*** met A***, Anabel and B***'s friend M*** O***; m*** wrote to m***@example.com" in by_regex(text)


def test_drift_markdown_fits_too() -> None:
    report = DriftReport(
        changes=[{"address": f"clarky.membership[s][c{i}]", "action": "enroll", "reason": None, "fields": []}
                 for i in range(100_000)],
        health=[{"address": f"garyclub.membership[n][c{i}]", "kind": "paused_on_reply",
                 "problem": "paused: the contact replied", "status": "paused", "since": None} for i in range(500)],
        orphaned=[{"address": f"clarky.membership[s][o{i}]", "action": "manual", "reason": "removed",
                   "status": "running", "fields": []} for i in range(20)],
        unmanaged={"clarky/sales": 3})
    md = render_drift_markdown(report)
    assert size(md) <= DEFAULT_BUDGET
    assert md.startswith("<!-- campaignctl-drift -->") and "| 100000 | 20 | 500 | 0 | 3 |" in md
    assert "**Drift found: 100000 changes, 20 orphaned, 500 health, 0 diverged (allowed), 3 unmanaged.**" in md
    cut = re.search(r"\n  … and ([\d,]+) more\n", md)
    assert cut and md.count("enroll    clarky.membership") + int(cut.group(1).replace(",", "")) == 100_000
    assert "**Full report:** `campaignctl drift` (text) or `--format json`" in md
    small = render_drift_markdown(DriftReport(health=report.health[:2]))
    assert "more" not in small and "Full report" not in small and small.count("paused: the contact replied") == 2
