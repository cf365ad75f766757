"""compute_plan(desired, live, policies) -> Plan: the one diff behind plan, apply and drift.

Pure and deterministic: no I/O, no clock (the caller passes `now`), changes sorted by address.
Once-only memberships (docs/safety.md) are decided here and nowhere else:
  absent                      -> enroll            (irreversible)
  active / paused             -> nothing           (never re-enrolled while active)
  finished                    -> nothing, or enroll with attempt+1 under reenroll: after_finished
  failed, contact unreachable -> skip (with the vendor's reason)
  failed, otherwise           -> retry             (irreversible; next idempotency attempt)
  removed from the manifest but still active -> manual (stop in the vendor UI), never blocking
  not provable (a 404 status read, known to the state but now absent) -> manual, never enroll
  absent, but not yet proven across a settle window (Kalent) -> defer
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from deepdiff import DeepDiff

from reconciler.errors import PlanError
from reconciler.model import Address, Blueprint, Card, DesiredState, Pipeline, Sequence
from reconciler.plan_types import Change, Divergence, FieldChange, Plan
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, LiveBlueprint, LiveCard, LiveMembership, LiveSnapshot

__all__ = ["Policies", "compute_plan", "field_changes", "check_precondition", "Change", "Plan", "FieldChange"]


@dataclass(frozen=True)
class ProviderCaps:
    """The capability flags the planner needs (mirrors providers.base.Capabilities)."""

    can_stop_membership: bool = False
    can_archive_cards: bool = True
    can_delete_cards: bool = True


@dataclass(frozen=True)
class Policies:
    """Inputs besides desired and live: capabilities, caps used, adoption, safety flags."""

    capabilities: dict[str, ProviderCaps] = field(default_factory=dict)
    sent_last_24h: dict[str, int] = field(default_factory=dict)  # sequence address group -> enrollments sent
    adopted: frozenset[Address] = frozenset()
    tool_version: str = "0"
    created_at: str = ""


def field_changes(before: Any, after: Any) -> tuple[FieldChange, ...]:
    """Field-level differences of two projected dicts, as our own FieldChange tuples."""
    if before == after:  # the common case at scale: DeepDiff costs ~0.4 ms even for equal dicts
        return ()
    diff = DeepDiff(before, after, ignore_order=False, verbose_level=2, threshold_to_diff_deeper=0)
    out: list[FieldChange] = []
    for kind, items in diff.items():
        for path, value in items.items():
            clean = path.replace("root", "", 1).lstrip(".")
            clean = clean.replace("['", ".").replace("']", "").lstrip(".")
            if kind in ("values_changed", "type_changes"):
                out.append(FieldChange(clean, value.get("old_value"), value.get("new_value")))
            elif kind in ("dictionary_item_added", "iterable_item_added"):
                out.append(FieldChange(clean, None, value))
            elif kind in ("dictionary_item_removed", "iterable_item_removed"):
                out.append(FieldChange(clean, value, None))
    return tuple(sorted(out, key=lambda f: f.path))


def _membership_snapshot(live: LiveMembership) -> dict[str, Any]:
    return {"remote_id": live.remote_id, "status": live.status, "attempt": live.attempt}


def _plan_memberships(desired: DesiredState, live: LiveSnapshot, policies: Policies) -> tuple[list[Change], int]:
    changes: list[Change] = []
    unchanged = 0
    declared: set[Address] = set()
    for seq in desired.sequences:
        wanted: list[Change] = []
        for member in seq.members:
            declared.add(member.address)
            change = _member_change(seq, member.address, live.memberships.get(member.address), live)
            if change is None and member.address in live.renames:
                change = _rename(member.address, live.renames[member.address])
            if change is None:
                unchanged += 1
            elif change.action in ("enroll", "retry"):
                wanted.append(change)
            else:
                changes.append(change)
        changes.extend(_apply_daily_cap(seq, wanted, policies))
    for address, lm in sorted(live.memberships.items()):
        if address in declared or lm.status not in (ACTIVE, PAUSED):
            continue
        caps = policies.capabilities.get(address.provider, ProviderCaps())
        action = "stop" if caps.can_stop_membership else "manual"
        changes.append(Change(
            address=address, action=action, provider=address.provider, irreversible=False,
            before=_membership_snapshot(lm) | {"vendor_status": lm.vendor_status}, after=None,
            reason=f"removed from the manifest but still {lm.vendor_status}: stop it in the vendor's UI"
            if action == "manual" else "removed from the manifest",
            precondition={"enrollment": _membership_snapshot(lm)},
        ))
    return changes, unchanged


def _rename(address: Address, old: Address) -> Change:
    """One enrollment, kept under its new address: nothing is sent, nothing is stopped."""
    return Change(address=address, action="rename", provider=address.provider, irreversible=False,
                  before={"address": str(old)}, after={"address": str(address)}, precondition={},
                  reason=f"enrollment kept under its new address (was {old}); nothing is sent")


def _member_change(seq: Sequence, address: Address, lm: LiveMembership | None, live: LiveSnapshot) -> Change | None:
    loud = seq.auto_approve
    base = dict(address=address, provider=address.provider, loud=loud)
    if address in live.conflicts:
        return Change(action="manual", irreversible=False, before=None, after=None,
                      reason=f"{live.conflicts[address]}: enrolls no one until the vendor holds this person once",
                      precondition={}, **base)
    if address in live.pending:
        return Change(action="defer", irreversible=False, before=None, after=None,
                      reason="an earlier enrollment attempt has an unknown outcome; apply settles it first (by reading, or for "
                             "Clarky by replaying its idempotency key, which cannot send twice)",
                      precondition={}, **base)
    if address in live.unproven:
        return Change(action="manual", irreversible=False, before=_membership_snapshot(lm) if lm else None, after=None,
                      reason=live.unproven[address], precondition={}, **base)
    if lm is None and address in live.settling:
        return Change(action="defer", irreversible=False, before=None, after=None, reason=live.settling[address],
                      precondition={}, **base)
    if lm is None:
        return Change(action="enroll", irreversible=True, before=None, after={"sequence": seq.id, "attempt": 0},
                      reason="auto_approve: sends within seconds" if loud else None,
                      precondition={"enrollment": "absent"}, attempt=0, **base)
    if lm.conflict:
        return Change(action="skip", irreversible=False, before=_membership_snapshot(lm), after=None,
                      reason=lm.conflict, precondition={}, **base)
    if lm.status in (ACTIVE, PAUSED):
        return None
    if lm.status == FINISHED:
        if seq.reenroll != "after_finished":
            return None
        return Change(action="enroll", irreversible=True, before=_membership_snapshot(lm),
                      after={"sequence": seq.id, "attempt": lm.attempt + 1},
                      reason=f"reenroll: after_finished (previous enrollment {lm.vendor_status})",
                      precondition={"enrollment": _membership_snapshot(lm)}, attempt=lm.attempt + 1, **base)
    if lm.status != FAILED:  # an unknown status is never a reason to send again
        return Change(action="skip", irreversible=False, before=_membership_snapshot(lm), after=None,
                      reason=f"unknown enrollment status {lm.status!r} ({lm.vendor_status}): check it in the vendor",
                      precondition={}, **base)
    if lm.unreachable:
        return Change(action="skip", irreversible=False, before=_membership_snapshot(lm), after=None,
                      reason=f"contact cannot be reached: {lm.reason or lm.vendor_status}", precondition={}, **base)
    return Change(action="retry", irreversible=True, before=_membership_snapshot(lm),
                  after={"sequence": seq.id, "attempt": lm.attempt + 1},
                  reason=f"previous enrollment failed: {lm.reason or lm.vendor_status}",
                  precondition={"enrollment": _membership_snapshot(lm)}, attempt=lm.attempt + 1, **base)


def _apply_daily_cap(seq: Sequence, wanted: list[Change], policies: Policies) -> Iterable[Change]:
    """Enrollments beyond the sequence's rolling-24h cap become `defer`."""
    if seq.daily_cap is None:
        return wanted
    room = max(0, seq.daily_cap - policies.sent_last_24h.get(f"{seq.provider}/{seq.id}", 0))
    out = []
    for i, change in enumerate(sorted(wanted, key=lambda c: c.address)):
        if i < room:
            out.append(change)
        else:
            out.append(Change(address=change.address, action="defer", provider=change.provider, irreversible=False,
                              before=change.before, after=None, precondition={},
                              reason=f"daily_cap {seq.daily_cap} reached for the last 24 h; enrolled on a later run"))
    return out


def _card_view(card: LiveCard) -> dict[str, Any]:
    return {"remote_id": card.remote_id, "stage": card.stage, "archived": card.archived,
            "fields": card.managed_fields(), "managed": card.managed}


def _plan_cards(desired: DesiredState, live: LiveSnapshot, policies: Policies) -> tuple[list[Change], int, list[Divergence]]:
    changes: list[Change] = []
    by_pipeline: dict[tuple[str, str], list[tuple[Address, LiveCard]]] = {}  # one pass, not one per pipeline
    for address, lc in sorted(live.cards.items()):
        by_pipeline.setdefault((address.provider, address.group), []).append((address, lc))
    diverged: list[Divergence] = []
    unchanged = 0
    problems: list[str] = []
    tag = desired.project.ownership_tag
    for pipe in desired.pipelines:
        stages = live.stages.get((pipe.provider, pipe.id))
        for card in pipe.cards:
            if stages is not None and card.stage not in stages:
                problems.append(f"{card.loc}: pipeline {pipe.pipeline!r} has no stage {card.stage!r} "
                                f"(its stages: {', '.join(stages)})")
                continue
            change = _card_change(pipe, card, live.cards.get(card.address), tag, policies, diverged, live.conflicts)
            if change is None:
                unchanged += 1
            else:
                changes.append(change)
        changes.extend(_prune(pipe, by_pipeline.get((pipe.provider, pipe.id), []), policies))
    if problems:
        raise PlanError("\n".join(problems))
    return changes, unchanged, diverged


def _card_change(pipe: Pipeline, card: Card, lc: LiveCard | None, tag: str, policies: Policies,
                 diverged: list[Divergence], live_conflicts: dict[Address, str]) -> Change | None:
    after = {"stage": card.stage, **card.managed_fields()}
    base = dict(address=card.address, provider=card.address.provider, irreversible=False)
    if card.address in live_conflicts:
        return Change(action="manual", before=None, after=None, precondition={},
                      reason=f"{live_conflicts[card.address]}: no card is created or changed until the vendor "
                             "holds this person once", **base)
    if lc is None:
        after["tags"] = sorted(set(card.tags) | {tag})
        return Change(action="create", before=None, after=after, precondition={"card": "absent"}, **base)
    if not lc.managed and card.address not in policies.adopted:
        return Change(action="manual", before=_card_view(lc), after=None, precondition={},
                      reason=f"a card without the {tag!r} tag already exists for this contact ({lc.remote_id}); "
                             "adopt it with `campaignctl import` or tag it by hand", **base)
    target_tags = sorted(set(lc.tags) | set(card.tags) | {tag})
    want = {"title": card.title, "description": card.description, "tags": target_tags}
    have = lc.managed_fields()
    fcs = list(field_changes(have, want))
    move = card.stage != lc.stage
    if move and pipe.stage_policy == "initial":
        diverged.append(Divergence(card.address, "stage", card.stage, lc.stage, "stage_policy: initial"))
        move = False
    if move:
        fcs.append(FieldChange("stage", lc.stage, card.stage))
    if lc.archived:
        fcs.append(FieldChange("archived", True, False))
    if not lc.managed:
        action = "adopt"
    elif lc.archived:
        action = "unarchive"
    elif move:
        action = "move"
    elif fcs:
        action = "update"
    else:
        return None
    return Change(action=action, before=_card_view(lc), after={"stage": card.stage if move else lc.stage, **want},
                  field_changes=tuple(sorted(fcs, key=lambda f: f.path)),
                  precondition={"card": _card_view(lc)}, **base)


def _prune(pipe: Pipeline, cards: list[tuple[Address, LiveCard]], policies: Policies) -> list[Change]:
    """Changes for the live cards of this pipeline (`cards`, sorted) that the manifest no longer declares."""
    declared = {c.address for c in pipe.cards}
    out = []
    for address, lc in cards:
        if address in declared or not lc.managed:
            continue
        if pipe.prune == "none" or (pipe.prune == "archive" and lc.archived):
            continue
        caps = policies.capabilities.get(pipe.provider, ProviderCaps())
        possible = caps.can_archive_cards if pipe.prune == "archive" else caps.can_delete_cards
        action = pipe.prune if possible else "manual"
        out.append(Change(address=address, action=action, provider=pipe.provider, irreversible=pipe.prune == "delete",
                          before=_card_view(lc), after=None, precondition={"card": _card_view(lc)},
                          reason=f"no longer declared (prune: {pipe.prune})" if possible
                          else f"no longer declared; the vendor API cannot {pipe.prune} it: do it in the UI"))
    return out


def blueprint_view(steps: Iterable[dict[str, Any]], name: str) -> dict[str, Any]:
    """Blueprint fields as compared: a plain LINKEDIN_INVITATION stores content '' (vendor rule)."""
    norm = []
    for step in steps:
        step = dict(step)
        if step.get("linkedInType") == "LINKEDIN_INVITATION":
            step["content"] = ""
        norm.append(step)
    return {"name": name, "steps": norm}


def _plan_blueprints(desired: DesiredState, live: LiveSnapshot) -> tuple[list[Change], int]:
    changes, unchanged = [], 0
    for bp in desired.blueprints:
        lb = live.blueprints.get(bp.address)
        want = blueprint_view(bp.steps, bp.name)
        base = dict(address=bp.address, provider=bp.provider, irreversible=False)
        if lb is None:
            changes.append(Change(action="create", before=None, after=want, precondition={"blueprint": "absent"}, **base))
            continue
        have = blueprint_view(lb.steps, lb.name)
        fcs = field_changes(have, want)
        if not fcs:
            unchanged += 1
            continue
        changes.append(Change(action="update", before=have, after=want, field_changes=fcs,
                              precondition={"blueprint": {"remote_id": lb.remote_id, "view": have}}, **base))
    return changes, unchanged


def compute_plan(desired: DesiredState, live: LiveSnapshot, policies: Policies | None = None) -> Plan:
    """Diff desired against live. Raises PlanError for problems only live data reveals (unknown stage)."""
    policies = policies or Policies()
    member_changes, m_same = _plan_memberships(desired, live, policies)
    card_changes, c_same, diverged = _plan_cards(desired, live, policies)
    bp_changes, b_same = _plan_blueprints(desired, live)
    plan = Plan(
        changes=sorted(member_changes + card_changes + bp_changes, key=lambda c: (str(c.address), c.action)),
        unchanged=m_same + c_same + b_same,
        diverged=sorted(diverged, key=lambda d: str(d.address)),
        warnings=sorted(set(live.warnings)),
        manifest_digest=desired.digest,
        tool_version=policies.tool_version,
        created_at=policies.created_at,
    )
    plan.safety = safety_violations(desired, live, plan)
    return plan


def safety_violations(desired: DesiredState, live: LiveSnapshot, plan: Plan) -> list[tuple[str, str]]:
    """(flag that overrides it, reason) for every safety limit (docs/safety.md) the plan exceeds."""
    out: list[tuple[str, str]] = []
    safety = desired.project.safety
    sends = sum(1 for c in plan.changes if c.action in ("enroll", "retry"))
    if sends > safety.max_new_memberships_per_apply:
        out.append(("--allow-large", f"{sends} new enrollments exceed max_new_memberships_per_apply "
                                     f"({safety.max_new_memberships_per_apply})"))
    managed = sum(1 for c in live.cards.values() if c.managed)
    removals = sum(1 for c in plan.changes if c.action in ("archive", "delete"))
    if managed >= safety.removal_floor and removals > safety.max_removal_fraction * managed:
        out.append(("--force", f"{removals} of {managed} managed cards would be archived or deleted "
                               f"(more than max_removal_fraction {safety.max_removal_fraction})"))
    for pipe in desired.pipelines:
        live_managed = [c for a, c in live.cards.items() if a.group == pipe.id and a.provider == pipe.provider and c.managed]
        if not pipe.cards and live_managed and pipe.prune != "none":
            out.append(("--force", f"pipeline {pipe.id!r} declares no cards but {len(live_managed)} managed cards exist"))
    for seq in desired.sequences:
        if not seq.members and any(a.group == seq.id and a.provider == seq.provider for a in live.memberships):
            out.append(("--force", f"sequence {seq.id!r} resolves to no members but has live enrollments"))
    return out


def check_precondition(change: Change, live: LiveSnapshot) -> str | None:
    """Why a saved change no longer holds against `live` (None: it still holds)."""
    pre = change.precondition
    if "enrollment" in pre:
        lm = live.memberships.get(change.address)
        if change.address in live.pending:
            return "an earlier enrollment attempt for this member is still unresolved"
        if change.address in live.unproven:
            return live.unproven[change.address]
        if lm is None and change.address in live.settling:
            return live.settling[change.address]
        now = "absent" if lm is None else _membership_snapshot(lm)
        if now != pre["enrollment"]:
            return f"enrollment is now {now if now == 'absent' else lm.vendor_status if lm else now}, planned against {pre['enrollment']}"
    if "card" in pre:
        lc = live.cards.get(change.address)
        now = "absent" if lc is None else _card_view(lc)
        if now != pre["card"]:
            return "card changed since the plan was made" if lc else "card no longer exists"
    if "blueprint" in pre:
        lb = live.blueprints.get(change.address)
        if pre["blueprint"] == "absent":
            if lb is not None:
                return "blueprint exists now"
        elif lb is None or {"remote_id": lb.remote_id, "view": blueprint_view(lb.steps, lb.name)} != pre["blueprint"]:
            return "blueprint changed since the plan was made"
    return None
