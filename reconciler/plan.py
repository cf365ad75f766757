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
  absent, but not yet proven across a settle window (asynchronous starts) -> defer
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

from reconciler.errors import PlanError
from reconciler.model import Address, Card, DesiredState, Pipeline, Sequence
from reconciler.plan_types import Change, Divergence, FieldChange, Plan
from reconciler.providers import vendors
from reconciler.providers.base import Capabilities
from reconciler.snapshot import ACTIVE, FAILED, FINISHED, PAUSED, LiveCard, LiveMembership, LiveSnapshot
from reconciler.vocabulary import Action, Kind

__all__ = ["PLANNED", "Change", "FieldChange", "Plan", "Policies", "check_precondition", "compute_plan",
           "field_changes"]
Fields = dict[str, Any]  # a projected object (before / after) or a precondition, as the plan JSON holds it
# Every (kind, action) the planner produces, and no other: `_change` refuses the rest, so apply's
# dispatch table can be checked against this (tests/apply/test_dispatch.py).
PLANNED: dict[str, frozenset[Action]] = {
    Kind.MEMBERSHIP: frozenset({Action.ENROLL, Action.RETRY, Action.STOP, Action.RENAME, Action.MANUAL, Action.SKIP,
                                Action.DEFER}),
    Kind.CARD: frozenset({Action.CREATE, Action.UPDATE, Action.MOVE, Action.ARCHIVE, Action.UNARCHIVE, Action.DELETE,
                          Action.ADOPT, Action.MANUAL}),
    Kind.BLUEPRINT: frozenset({Action.CREATE, Action.UPDATE}),
}


@dataclass(frozen=True)
class Policies:
    """Inputs besides desired and live: capabilities, caps used, adoption, safety flags."""

    capabilities: dict[str, Capabilities] = field(default_factory=dict)  # a provider not in it: the defaults
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


def _change(address: Address, action: Action, *, reason: str | None = None, before: Fields | None = None,
            after: Fields | None = None, precondition: Fields | None = None, irreversible: bool = False,
            loud: bool = False, attempt: int = 0, field_changes: tuple[FieldChange, ...] = ()) -> Change:
    """One change to `address` (on its own provider); what is not given is empty."""
    if action not in PLANNED.get(address.kind, ()):
        raise ValueError(f"the planner has no {action!r} for a {address.kind}: add it to PLANNED and to apply's "
                         "HANDLERS together")
    return Change(address=address, action=action, provider=address.provider, irreversible=irreversible,
                  before=before, after=after, precondition=precondition or {}, field_changes=field_changes,
                  reason=reason, loud=loud, attempt=attempt)


def _membership_snapshot(live: LiveMembership) -> Fields:
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
            elif change.action.sends:
                wanted.append(change)
            else:
                changes.append(change)
        changes.extend(_apply_daily_cap(seq, wanted, policies))
    # Only the few undeclared ones are sorted (sorting all 100k addresses cost seconds).
    for address, lm in sorted((a, m) for a, m in live.memberships.items()
                              if a not in declared and m.status in (ACTIVE, PAUSED)):
        caps = policies.capabilities.get(address.provider, Capabilities())
        action = Action.STOP if caps.can_stop_membership else Action.MANUAL
        changes.append(_change(
            address, action, before=_membership_snapshot(lm) | {"vendor_status": lm.vendor_status},
            reason=f"removed from the manifest but still {lm.vendor_status}: stop it in the vendor's UI"
            if action == Action.MANUAL else "removed from the manifest",
            precondition={"enrollment": _membership_snapshot(lm)},
        ))
    return changes, unchanged


def _rename(address: Address, old: Address) -> Change:
    """One enrollment, kept under its new address: nothing is sent, nothing is stopped."""
    return _change(address, Action.RENAME, before={"address": str(old)}, after={"address": str(address)},
                   reason=f"enrollment kept under its new address (was {old}); nothing is sent")


def _replaying_vendors() -> str:
    """The vendors that settle a start in doubt by replaying it with its key (VendorSpec.replays_starts)."""
    return " or ".join(s.title for s in vendors.specs() if s.replays_starts) or "none"


def _member_change(seq: Sequence, address: Address, lm: LiveMembership | None, live: LiveSnapshot) -> Change | None:
    loud = seq.loud
    if address in live.conflicts:
        return _change(address, Action.MANUAL, loud=loud,
                       reason=f"{live.conflicts[address]}: enrolls no one until the vendor holds this person once")
    if address in live.held:  # in doubt, and no write may settle it: a person checks the vendor
        return _change(address, Action.MANUAL, loud=loud, reason=live.held[address])
    if address in live.pending:
        return _change(address, Action.DEFER, loud=loud,
                       reason="an earlier enrollment attempt has an unknown outcome; apply settles it first (by "
                              f"reading, or for {_replaying_vendors()} by replaying its idempotency key, which cannot "
                              "send twice)")
    if address in live.unproven:
        return _change(address, Action.MANUAL, loud=loud, before=_membership_snapshot(lm) if lm else None,
                       reason=live.unproven[address])
    if lm is None and address in live.settling:
        return _change(address, Action.DEFER, loud=loud, reason=live.settling[address])
    if lm is None:
        return _change(address, Action.ENROLL, loud=loud, irreversible=True, after={"sequence": seq.id, "attempt": 0},
                       reason="auto_approve: sends within seconds" if loud else None,
                       precondition={"enrollment": "absent"})
    if lm.conflict:
        return _change(address, Action.SKIP, loud=loud, before=_membership_snapshot(lm), reason=lm.conflict)
    if lm.status in (ACTIVE, PAUSED):
        return None
    if lm.status == FINISHED:
        if seq.reenroll != "after_finished":
            return None
        return _change(address, Action.ENROLL, loud=loud, irreversible=True, before=_membership_snapshot(lm),
                       after={"sequence": seq.id, "attempt": lm.attempt + 1},
                       reason=f"reenroll: after_finished (previous enrollment {lm.vendor_status})",
                       precondition={"enrollment": _membership_snapshot(lm)}, attempt=lm.attempt + 1)
    if lm.status != FAILED:  # an unknown status is never a reason to send again
        return _change(address, Action.SKIP, loud=loud, before=_membership_snapshot(lm),
                       reason=f"unknown enrollment status {lm.status!r} ({lm.vendor_status}): check it in the vendor")
    if lm.unreachable:
        return _change(address, Action.SKIP, loud=loud, before=_membership_snapshot(lm),
                       reason=f"contact cannot be reached: {lm.reason or lm.vendor_status}")
    return _change(address, Action.RETRY, loud=loud, irreversible=True, before=_membership_snapshot(lm),
                   after={"sequence": seq.id, "attempt": lm.attempt + 1},
                   reason=f"previous enrollment failed: {lm.reason or lm.vendor_status}",
                   precondition={"enrollment": _membership_snapshot(lm)}, attempt=lm.attempt + 1)


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
            out.append(_change(change.address, Action.DEFER, before=change.before,
                               reason=f"daily_cap {seq.daily_cap} reached for the last 24 h; enrolled on a later run"))
    return out


def _card_view(card: LiveCard) -> Fields:
    return {"remote_id": card.remote_id, "stage": card.stage, "archived": card.archived,
            "fields": card.managed_fields(), "managed": card.managed}


def _plan_cards(desired: DesiredState, live: LiveSnapshot,
                policies: Policies) -> tuple[list[Change], int, list[Divergence]]:
    changes: list[Change] = []
    by_pipeline: dict[tuple[str, str], list[tuple[Address, LiveCard]]] = {}  # one pass, not one per pipeline
    for address, lc in sorted(live.cards.items(), key=_address_order):
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


def _address_order(item: tuple[Address, Any]) -> tuple[str, str, str, str]:
    """Address order as a plain tuple, compared in C (Address's own comparison builds two tuples per step)."""
    a = item[0]
    return a.provider, a.kind, a.group, a.key


def _card_change(pipe: Pipeline, card: Card, lc: LiveCard | None, tag: str, policies: Policies,
                 diverged: list[Divergence], live_conflicts: dict[Address, str]) -> Change | None:
    after: Fields = {"stage": card.stage, **card.managed_fields()}
    address = card.address
    if address in live_conflicts:
        return _change(address, Action.MANUAL, reason=f"{live_conflicts[address]}: no card is created or changed "
                                                      "until the vendor holds this person once")
    if lc is None:
        after["tags"] = sorted(set(card.tags) | {tag})
        return _change(address, Action.CREATE, after=after, precondition={"card": "absent"})
    if not lc.managed and address not in policies.adopted:
        return _change(address, Action.MANUAL, before=_card_view(lc),
                       reason=f"a card without the {tag!r} tag already exists for this contact ({lc.remote_id}); "
                              "adopt it with `campaignctl import` or tag it by hand")
    target_tags = sorted(set(lc.tags) | set(card.tags) | {tag})
    want = {"title": card.title, "description": card.description, "tags": target_tags}
    have = lc.managed_fields()
    fcs = list(field_changes(have, want))
    move = card.stage != lc.stage
    if move and pipe.stage_policy == "initial":
        diverged.append(Divergence(address, "stage", card.stage, lc.stage, "stage_policy: initial"))
        move = False
    if move:
        fcs.append(FieldChange("stage", lc.stage, card.stage))
    if lc.archived:
        fcs.append(FieldChange("archived", True, False))
    if not lc.managed:
        action = Action.ADOPT
    elif lc.archived:
        action = Action.UNARCHIVE
    elif move:
        action = Action.MOVE
    elif fcs:
        action = Action.UPDATE
    else:
        return None
    return _change(address, action, before=_card_view(lc), after={"stage": card.stage if move else lc.stage, **want},
                   field_changes=tuple(sorted(fcs, key=lambda f: f.path)), precondition={"card": _card_view(lc)})


def _prune(pipe: Pipeline, cards: list[tuple[Address, LiveCard]], policies: Policies) -> list[Change]:
    """Changes for the live cards of this pipeline (`cards`, sorted) that the manifest no longer declares."""
    declared = {c.address for c in pipe.cards}
    out = []
    for address, lc in cards:
        if address in declared or not lc.managed:
            continue
        if pipe.prune == "none" or (pipe.prune == "archive" and lc.archived):
            continue
        caps = policies.capabilities.get(pipe.provider, Capabilities())
        possible = caps.can_archive_cards if pipe.prune == "archive" else caps.can_delete_cards
        action = Action(pipe.prune) if possible else Action.MANUAL
        out.append(_change(address, action, irreversible=pipe.prune == "delete", before=_card_view(lc),
                           precondition={"card": _card_view(lc)},
                           reason=f"no longer declared (prune: {pipe.prune})" if possible
                           else f"no longer declared; the vendor API cannot {pipe.prune} it: do it in the UI"))
    return out


def blueprint_view(steps: Iterable[Fields], name: str) -> Fields:
    """Blueprint fields as compared: steps in the form vendors store them (each VendorSpec's
    `blueprints.compared`, which rewrites only step shapes of its own vendor)."""
    norm = [dict(s) for s in steps]
    for spec in vendors.specs():
        if spec.blueprints:
            norm = spec.blueprints.compared(norm)
    return {"name": name, "steps": norm}


def _plan_blueprints(desired: DesiredState, live: LiveSnapshot) -> tuple[list[Change], int]:
    changes: list[Change] = []
    unchanged = 0
    for bp in desired.blueprints:
        lb = live.blueprints.get(bp.address)
        want = blueprint_view(bp.steps, bp.name)
        if lb is None:
            changes.append(_change(bp.address, Action.CREATE, after=want, precondition={"blueprint": "absent"}))
            continue
        have = blueprint_view(lb.steps, lb.name)
        fcs = field_changes(have, want)
        if not fcs:
            unchanged += 1
            continue
        changes.append(_change(bp.address, Action.UPDATE, before=have, after=want, field_changes=fcs,
                               precondition={"blueprint": {"remote_id": lb.remote_id, "view": have}}))
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
    sends = sum(1 for c in plan.changes if c.action.sends)
    if sends > safety.max_new_memberships_per_apply:
        out.append(("--allow-large", (f"{sends} new enrollments exceed max_new_memberships_per_apply "
                                      f"({safety.max_new_memberships_per_apply})")))
    managed = sum(1 for c in live.cards.values() if c.managed)
    removals = sum(1 for c in plan.changes if c.action in (Action.ARCHIVE, Action.DELETE))
    if managed >= safety.removal_floor and removals > safety.max_removal_fraction * managed:
        out.append(("--force", (f"{removals} of {managed} managed cards would be archived or deleted "
                                f"(more than max_removal_fraction {safety.max_removal_fraction})")))
    for pipe in desired.pipelines:
        live_managed = [c for a, c in live.cards.items()
                        if a.group == pipe.id and a.provider == pipe.provider and c.managed]
        if not pipe.cards and live_managed and pipe.prune != "none":
            out.append(("--force",
                        f"pipeline {pipe.id!r} declares no cards but {len(live_managed)} managed cards exist"))
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
        if lm is None and pre["enrollment"] != "absent":
            return f"enrollment is now absent, planned against {pre['enrollment']}"
        if lm is not None and _membership_snapshot(lm) != pre["enrollment"]:
            return f"enrollment is now {lm.vendor_status}, planned against {pre['enrollment']}"
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
