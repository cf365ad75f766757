"""Renderer golden files: one plan with every kind of change, rendered as text, JSON and Markdown.

Regenerate after an intended change with `UPDATE_GOLDEN=1 python -m pytest tests/planner/test_render.py`
and review the diff like any other code change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.plan import Policies, compute_plan
from reconciler.plan_types import Plan
from reconciler.render import GROUP_LIMIT, MARKER, render_json, render_markdown, render_text
from reconciler.snapshot import LiveSnapshot
from tests.planner.helpers import card, desired_from, member

GOLDEN = Path(__file__).parent / "golden"

MANIFEST = """
sequences:
  - {id: intro, provider: clarky, template: tpl_1, members: [ana, bob, cy]}
  - {id: fast, provider: clarky, template: tpl_2, auto_approve: true, members: [ana]}
pipelines:
  - id: sales
    provider: clarky
    pipeline: Sales
    stage_policy: enforce
    prune: archive
    cards:
      - {contact: ana, stage: Lead, title: "Ana – inbound", tags: [inbound]}
      - {contact: bob, stage: Won, title: "Bob – renewal", description: "Call back in May"}
      - {contact: cy, stage: Lead, title: "Cy – webinar"}
"""


def example_plan(tmp_path: Path) -> Plan:
    desired = desired_from(tmp_path, MANIFEST)
    live = LiveSnapshot(stages={("clarky", "sales"): ("Lead", "Qualified", "Won")})
    for lm in (member("intro", "bob", "failed", "failed", reason="no_usable_channels", unreachable=True),
               member("intro", "cy", "failed", "failed", reason="generation_error"),
               member("intro", "dan", "active", "running")):
        live.memberships[lm.address] = lm
    for lc in (card("sales", "bob", stage="Qualified", title="Bob – renewal"),
               card("sales", "cy", title="Cy – old title"),
               card("sales", "remote:c_9", title="Old deal")):
        live.cards[lc.address] = lc
    return compute_plan(desired, live, Policies(created_at="2026-11-24T00:00:00Z", tool_version="test"))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(encoding="utf-8")


def test_plan_covers_every_line_kind(tmp_path):
    actions = {c.action for c in example_plan(tmp_path).changes}
    assert actions == {"enroll", "retry", "skip", "manual", "create", "move", "update", "archive"}


@pytest.mark.parametrize("name,render", [
    ("plan.txt", lambda p: render_text(p)),
    ("plan.color.txt", lambda p: render_text(p, color=True)),
    ("plan.json", render_json),
    ("plan.md", lambda p: render_markdown(p)),
    ("plan.masked.md", lambda p: render_markdown(p, mask_pii=True, names=["Ana", "Bob"])),
])
def test_golden(tmp_path, name, render):
    check_golden(name, render(example_plan(tmp_path)))


def test_text_without_colour_has_no_escape_codes(tmp_path):
    plan = example_plan(tmp_path)
    assert "\x1b[" not in render_text(plan) and "\x1b[32m" in render_text(plan, color=True)


def test_markdown_starts_with_the_marker_and_masks_pii(tmp_path):
    md = render_markdown(example_plan(tmp_path), mask_pii=True, names=["Ana"])
    assert md.startswith(MARKER + "\n")
    assert "ana@example.com" not in md and "a***@example.com" not in md  # addresses name contact ids, not emails
    assert "A*** – inbound" in md


def test_json_is_what_a_ci_step_parses(tmp_path):
    data = json.loads(render_json(example_plan(tmp_path)))
    assert data["format_version"] == 1 and data["created_at"] == "2026-11-24T00:00:00Z"
    for change in data["changes"]:
        assert set(change) >= {"address", "action", "provider", "irreversible", "before", "after", "field_changes",
                               "reason", "precondition"}
    enroll = next(c for c in data["changes"] if c["action"] == "enroll" and "fast" in c["address"])
    assert enroll["irreversible"] is True


def test_large_groups_are_summarised_unless_full(tmp_path):
    contacts = "\n".join(f"  - {{id: p{i:03d}, emails: [p{i:03d}@example.com], tags: [bulk]}}" for i in range(45))
    (tmp_path / "camp").mkdir()
    (tmp_path / "camp" / "bulk.yaml").write_text("contacts:\n" + contacts + "\n")
    desired = desired_from(tmp_path, "sequences:\n  - {id: big, provider: clarky, template: t, members_where: {tags_any: [bulk]}}\n")
    plan = compute_plan(desired, LiveSnapshot(), Policies())
    short, full = render_text(plan), render_text(plan, full=True)
    assert short.count("+ enroll") == GROUP_LIMIT and "… and 25 more (25 enroll); --full lists all" in short
    assert full.count("+ enroll") == 45 and "more" not in full
    assert short.rstrip().endswith("Plan: 45 to enroll; 0 unchanged.")
