"""Pure planner: every action, every policy, the duplicate-send traps. No I/O."""

from __future__ import annotations

import json

import pytest

from reconciler.errors import PlanError
from reconciler.model import Address
from reconciler.plan import Policies, check_precondition, compute_plan
from reconciler.plan_types import Plan
from reconciler.providers.base import Capabilities
from reconciler.render import render_json
from reconciler.snapshot import LiveBlueprint, LiveSnapshot
from tests.planner.helpers import card, desired_from, member

SEQ = """
sequences:
  - {{id: s, provider: {provider}, {target}, members: [ana]{extra}}}
"""
TARGET = {"clarky": "template: tpl_1", "gary": "sequence: Nurture", "kalent": "blueprint: bp_1, sourcing: Eng"}


def plan_for(tmp_path, live_member=None, *, provider="clarky", extra="", pending=False):
    desired = desired_from(tmp_path, SEQ.format(provider=provider, target=TARGET[provider], extra=extra))
    live = LiveSnapshot()
    if live_member is not None:
        live.memberships[live_member.address] = live_member
    if pending:
        live.pending.add(Address(provider, "membership", "s", "ana"))
    return compute_plan(desired, live)


MEMBERSHIP_CASES = [
    # (name, provider, live (status, vendor status, kwargs) or None, extra manifest, expected action or None)
    ("absent -> enroll", "clarky", None, "", "enroll"),
    ("clarky generating is active", "clarky", ("active", "generating", {}), "", None),
    ("clarky pending_approval is active", "clarky", ("active", "pending_approval", {}), "", None),
    ("gary paused on reply is never re-posted", "gary", ("paused", "paused", {"reason": "reply_received"}), "", None),
    ("gary completed stays done", "gary", ("finished", "completed", {}), "", None),
    ("kalent replied candidate stays done", "kalent", ("finished", "TALENT_REPLIED", {}), "", None),
    ("clarky unsubscribed stays done", "clarky", ("finished", "stopped_unsubscribed", {}), "", None),
    ("clarky stopped by a user stays done", "clarky", ("finished", "stopped_user", {}), "", None),
    ("finished + reenroll after_finished -> enroll", "clarky", ("finished", "completed", {}), ", reenroll: after_finished", "enroll"),
    ("active + reenroll after_finished -> nothing", "gary", ("active", "active", {}), ", reenroll: after_finished", None),
    ("paused + reenroll after_finished -> nothing", "gary", ("paused", "paused", {}), ", reenroll: after_finished", None),
    ("failed no_usable_channels -> skip", "clarky", ("failed", "failed", {"reason": "no_usable_channels", "unreachable": True}), "", "skip"),
    ("failed generation -> retry", "clarky", ("failed", "failed", {"reason": "generation_timeout"}), "", "retry"),
    ("kalent ERROR -> retry", "kalent", ("failed", "ERROR", {"reason": "email bounced"}), "", "retry"),
    ("kalent candidate in another sequence -> skip", "kalent", ("active", "SCHEDULED", {"conflict": "candidate is in sequence 'Other'"}), "", "skip"),
]


@pytest.mark.parametrize("name,provider,live,extra,expected", MEMBERSHIP_CASES, ids=[c[0] for c in MEMBERSHIP_CASES])
def test_membership_rules(tmp_path, name, provider, live, extra, expected):
    lm = None
    if live:
        status, vendor, kw = live
        lm = member("s", "ana", status, vendor, provider=provider, **kw)
    plan = plan_for(tmp_path, lm, provider=provider, extra=extra)
    actions = [c.action for c in plan.changes]
    assert actions == ([expected] if expected else [])
    assert plan.unchanged == (0 if expected else 1)
    if expected in ("enroll", "retry"):
        change = plan.changes[0]
        assert change.irreversible
        assert change.attempt == (0 if lm is None else 1)
        assert change.precondition == ({"enrollment": "absent"} if lm is None else
                                       {"enrollment": {"remote_id": "enr_ana", "status": lm.status, "attempt": 0}})


def test_skip_and_retry_carry_the_vendor_reason(tmp_path):
    skip = plan_for(tmp_path, member("s", "ana", "failed", reason="no_usable_channels", unreachable=True))
    assert skip.changes[0].reason == "contact cannot be reached: no_usable_channels"
    retry = plan_for(tmp_path, member("s", "ana", "failed", reason="generation_timeout"))
    assert retry.changes[0].reason == "previous enrollment failed: generation_timeout"


def test_unresolved_write_defers_instead_of_sending(tmp_path):
    plan = plan_for(tmp_path, None, pending=True)
    assert [(c.action, c.irreversible) for c in plan.changes] == [("defer", False)]


def test_member_removed_while_active_is_manual_and_finished_one_is_silent(tmp_path):
    desired = desired_from(tmp_path, SEQ.format(provider="clarky", target=TARGET["clarky"], extra=""))
    live = LiveSnapshot()
    for lm in (member("s", "ana", "active", "running"), member("s", "bob", "active", "running"),
               member("s", "cy", "finished", "completed")):
        live.memberships[lm.address] = lm
    plan = compute_plan(desired, live)
    assert [(str(c.address), c.action) for c in plan.changes] == [("clarky.membership[s][bob]", "manual")]
    assert "stop it in the vendor's UI" in plan.changes[0].reason
    stop = compute_plan(desired, live, Policies(capabilities={"clarky": Capabilities(can_stop_membership=True)}))
    assert [c.action for c in stop.changes] == ["stop"]


def test_daily_cap_defers_the_rest_deterministically(tmp_path):
    desired = desired_from(tmp_path, "sequences:\n  - {id: s, provider: clarky, template: t, members_where: {tags_any: [t]}, daily_cap: 2}\n")
    plan = compute_plan(desired, LiveSnapshot(), Policies(sent_last_24h={"clarky/s": 1}))
    assert [(c.address.key, c.action) for c in plan.changes] == [("ana", "enroll"), ("bob", "defer"), ("cy", "defer")]


def test_auto_approve_is_flagged_loud(tmp_path):
    plan = plan_for(tmp_path, None, extra=", auto_approve: true")
    assert plan.changes[0].loud and plan.changes[0].irreversible


PIPE = """
pipelines:
  - id: p
    provider: clarky
    pipeline: Sales
    stage_policy: {policy}
    prune: {prune}
    cards:
      - {{contact: ana, stage: Lead, title: T, tags: [inbound]}}
"""


def card_plan(tmp_path, live_cards, *, policy="initial", prune="none", caps=None, adopted=()):
    desired = desired_from(tmp_path, PIPE.format(policy=policy, prune=prune))
    live = LiveSnapshot(stages={("clarky", "p"): ("Lead", "Qualified", "Won")})
    for lc in live_cards:
        live.cards[lc.address] = lc
    return compute_plan(desired, live, Policies(capabilities=caps or {}, adopted=frozenset(adopted)))


def test_card_absent_is_created_with_the_ownership_tag(tmp_path):
    plan = card_plan(tmp_path, [])
    (change,) = plan.changes
    assert change.action == "create"
    assert change.after == {"stage": "Lead", "title": "T", "description": None, "tags": ["campaignctl", "inbound"]}


def test_people_tags_are_kept_and_no_change_planned(tmp_path):
    plan = card_plan(tmp_path, [card("p", "ana", tags=("campaignctl", "inbound", "hot"))])
    assert plan.changes == [] and plan.unchanged == 1


def test_title_change_is_an_update_with_field_changes(tmp_path):
    plan = card_plan(tmp_path, [card("p", "ana", title="Old", tags=("campaignctl",))])
    (change,) = plan.changes
    assert change.action == "update"
    assert [(f.path, f.before, f.after) for f in change.field_changes] == [
        ("tags[1]", None, "inbound"), ("title", "Old", "T")]


def test_moved_by_a_person_under_initial_is_diverged_not_changed(tmp_path):
    plan = card_plan(tmp_path, [card("p", "ana", stage="Won", tags=("campaignctl", "inbound"))])
    assert plan.changes == []
    assert [(str(d.address), d.live, d.desired) for d in plan.diverged] == [("clarky.card[p][ana]", "Won", "Lead")]


def test_moved_by_a_person_under_enforce_is_moved_back(tmp_path):
    plan = card_plan(tmp_path, [card("p", "ana", stage="Won", tags=("campaignctl", "inbound"))], policy="enforce")
    (change,) = plan.changes
    assert change.action == "move"
    assert [(f.path, f.before, f.after) for f in change.field_changes] == [("stage", "Won", "Lead")]
    assert change.precondition["card"]["stage"] == "Won"


def test_archived_managed_card_declared_again_is_unarchived(tmp_path):
    plan = card_plan(tmp_path, [card("p", "ana", archived=True, tags=("campaignctl", "inbound"))])
    assert [c.action for c in plan.changes] == ["unarchive"]


def test_unmanaged_card_is_never_touched_unless_adopted(tmp_path):
    people_card = card("p", "ana", title="Theirs", tags=("vip",), managed=False)
    plan = card_plan(tmp_path, [people_card])
    assert [c.action for c in plan.changes] == ["manual"]
    adopted = card_plan(tmp_path, [people_card], adopted=[people_card.address])
    (change,) = adopted.changes
    assert change.action == "adopt"
    assert change.after["tags"] == ["campaignctl", "inbound", "vip"]


@pytest.mark.parametrize("prune,caps,expected", [
    ("none", None, []),
    ("archive", None, ["archive"]),
    ("delete", None, ["delete"]),
    ("archive", {"clarky": Capabilities(can_archive_cards=False)}, ["manual"]),
])
def test_prune_modes_touch_only_managed_cards(tmp_path, prune, caps, expected):
    live = [card("p", "ana", tags=("campaignctl", "inbound")), card("p", "gone"),
            card("p", "theirs", managed=False, tags=())]
    plan = card_plan(tmp_path, live, prune=prune, caps=caps)
    assert [(c.address.key, c.action) for c in plan.changes] == [("gone", a) for a in expected]


def test_unknown_stage_is_a_plan_error_naming_real_stages(tmp_path):
    desired = desired_from(tmp_path, PIPE.format(policy="initial", prune="none").replace("stage: Lead", "stage: Leed"))
    live = LiveSnapshot(stages={("clarky", "p"): ("Lead", "Qualified")})
    with pytest.raises(PlanError, match=r"camp/m.yaml:\d+:\d+: pipeline 'Sales' has no stage 'Leed' \(its stages: Lead, Qualified\)"):
        compute_plan(desired, live)


BP = """
blueprints:
  - id: bp
    provider: kalent
    sourcing: Eng
    name: BP
    steps:
      - {id: i, name: I, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION, content: "", temporalityType: ASAP}
      - {id: m, name: M, type: EMAIL, subject: S, content: "Hi {{firstname}}", temporalityType: ASAP}
"""


def test_blueprint_create_update_and_vendor_normalisation(tmp_path):
    desired = desired_from(tmp_path, BP)
    assert [c.action for c in compute_plan(desired, LiveSnapshot()).changes] == ["create"]
    addr = desired.blueprints[0].address
    same = [dict(s) for s in desired.blueprints[0].steps]
    same[0]["content"] = ""  # the vendor stores a plain invitation's content as ""
    live = LiveSnapshot(blueprints={addr: LiveBlueprint(addr, "bp_9", "BP", tuple(same))})
    assert compute_plan(desired, live).changes == []
    changed = [dict(s) for s in same]
    changed[1]["content"] = "Hello {{firstname}}"
    live.blueprints[addr] = LiveBlueprint(addr, "bp_9", "BP", tuple(changed))
    (change,) = compute_plan(desired, live).changes
    assert change.action == "update"
    assert [(f.path, f.before, f.after) for f in change.field_changes] == [
        ("steps[1].content", "Hello {{firstname}}", "Hi {{firstname}}")]


def test_safety_new_memberships_cap(tmp_path):
    project = (desired_from.__globals__["PROJECT"] + "safety: {max_new_memberships_per_apply: 2}\n")
    desired = desired_from(tmp_path, "sequences:\n  - {id: s, provider: clarky, template: t, members_where: {tags_any: [t]}}\n", project)
    plan = compute_plan(desired, LiveSnapshot())
    assert plan.safety == [("--allow-large", "3 new enrollments exceed max_new_memberships_per_apply (2)")]


def test_safety_removal_fraction_has_a_floor_of_ten(tmp_path):
    live = [card("p", f"old{i}") for i in range(9)]
    assert card_plan(tmp_path, live, prune="archive").safety == []  # 9 managed: below the floor
    live = [card("p", f"old{i}") for i in range(12)]
    plan = card_plan(tmp_path, live, prune="archive")
    assert plan.safety == [("--force", "12 of 12 managed cards would be archived or deleted (more than max_removal_fraction 0.3)")]


def test_safety_empty_desired_set_with_live_objects(tmp_path):
    desired = desired_from(tmp_path, "sequences:\n  - {id: s, provider: clarky, template: t, members_where: {tags_any: [nobody]}}\n")
    live = LiveSnapshot()
    lm = member("s", "ana", "finished", "completed")
    live.memberships[lm.address] = lm
    assert compute_plan(desired, live).safety == [("--force", "sequence 's' resolves to no members but has live enrollments")]


def test_precondition_detects_a_member_enrolled_since_the_plan(tmp_path):
    plan = plan_for(tmp_path, None)
    (change,) = plan.changes
    live = LiveSnapshot()
    assert check_precondition(change, live) is None
    lm = member("s", "ana", "active", "generating")
    live.memberships[lm.address] = lm
    assert check_precondition(change, live) == "enrollment is now generating, planned against absent"


def test_precondition_detects_a_card_moved_since_the_plan(tmp_path):
    lc = card("p", "ana", stage="Won", tags=("campaignctl", "inbound"))
    plan = card_plan(tmp_path, [lc], policy="enforce")
    live = LiveSnapshot(cards={lc.address: card("p", "ana", stage="Qualified", tags=("campaignctl", "inbound"))})
    assert check_precondition(plan.changes[0], live) == "card changed since the plan was made"


def test_json_is_stable_and_round_trips(tmp_path):
    desired = desired_from(tmp_path, "sequences:\n  - {id: s, provider: clarky, template: t, members_where: {tags_any: [t]}}\n" + PIPE.format(policy="initial", prune="none"))
    live = LiveSnapshot(stages={("clarky", "p"): ("Lead",)})
    one = render_json(compute_plan(desired, live, Policies(created_at="2026-01-01T00:00:00Z")))
    two = render_json(compute_plan(desired, live, Policies(created_at="2026-01-01T00:00:00Z")))
    assert one == two
    data = json.loads(one)
    assert [c["address"] for c in data["changes"]] == sorted(c["address"] for c in data["changes"])
    assert render_json(Plan.from_dict(data)) == one


def test_an_unknown_status_is_skipped_never_retried(tmp_path):
    plan = plan_for(tmp_path, member("s", "ana", "weird", "???"))
    (change,) = [c for c in plan.changes if c.address.key == "ana"]
    assert change.action == "skip" and not change.irreversible and "unknown enrollment status" in change.reason
