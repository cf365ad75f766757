"""Drift: the plan in read-only mode plus a health report, and its fingerprint
(docs/drift-json.md).

Five categories: changes (what apply would do now), diverged (allowed by policy), orphaned
(removed from the manifest, still active), health (failed, a vendor status held too long
(VendorSpec.stalls), paused on reply, cards archived by people), unmanaged (cards without the
ownership tag); and, with a contact policy, the policy violations found live
(reconciler/contact_policy/violations.py).

Choices campaignctl makes:
- The fingerprint hashes what a person would call "the same drift": addresses, actions, changed
  field paths, health kinds, diverged live values. Ages ("stuck for 20 min") are left out, so a
  problem that only gets older does not notify again.
- Ages are measured on the clock the caller passes (the sandbox's clock when it is in-process).
- A write the journal leaves in doubt that drift (read-only) cannot settle is a health item: the
  next plan or apply resolves it by reading, and until then nothing is retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.comment import DEFAULT_BUDGET, Page
from reconciler.plan_types import Plan
from reconciler.providers import vendors
from reconciler.snapshot import ACTIVE, FAILED, PAUSED, LiveSnapshot
from reconciler.timeutil import parse_time
from reconciler.vocabulary import Action, Kind

FORMAT_VERSION = 1  # of the --format json report (schemas/drift.schema.json); bumped on any incompatible change


@dataclass
class DriftReport:
    """Everything drift found; `fingerprint` ignores timestamps so unchanged drift stays quiet."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    diverged: list[dict[str, Any]] = field(default_factory=list)
    orphaned: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    unmanaged: dict[str, int] = field(default_factory=dict)
    policy: list[dict[str, Any]] = field(default_factory=list)  # contact policy violations found live

    @property
    def drifted(self) -> bool:
        """Exit 2 when changes, orphaned members, health items or policy violations exist."""
        return bool(self.changes or self.orphaned or self.health or self.policy)

    def fingerprint(self) -> str:
        stable = {
            "changes": sorted((i["address"], i["action"], i.get("fields", [])) for i in self.changes),
            "orphaned": sorted(i["address"] for i in self.orphaned),
            "health": sorted((i["address"], i["kind"]) for i in self.health),
            "diverged": sorted((d["address"], d["path"], str(d["live"])) for d in self.diverged),
        }
        if self.policy:  # only when there are any: a fingerprint without them stays what it was
            stable["policy"] = sorted((i["kind"], i["person"], i["address"]) for i in self.policy)
        payload = json.dumps(stable, sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        return {"changes": len(self.changes), "diverged": len(self.diverged), "orphaned": len(self.orphaned),
                "health": len(self.health), "unmanaged": sum(self.unmanaged.values())}

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "drifted": self.drifted, "fingerprint": self.fingerprint(),
                "counts": self.counts(),
                "changes": self.changes, "diverged": self.diverged, "orphaned": self.orphaned,
                "health": self.health, "unmanaged": self.unmanaged, "policy": self.policy}


def build_report(plan: Plan, live: LiveSnapshot, *, now: datetime | None = None,
                 archived_by_us: Iterable[str] = ()) -> DriftReport:
    """Classify the plan and the live state into the five drift categories."""
    now = now or datetime.now(UTC)
    report = DriftReport()
    stalls = vendors.stalls()
    replied = vendors.reply_reasons()
    for change in plan.changes:
        item = {"address": str(change.address), "action": change.action, "reason": change.reason,
                "fields": sorted(f.path for f in change.field_changes)}
        if change.address.kind == Kind.MEMBERSHIP and change.action in (Action.MANUAL, Action.STOP):
            report.orphaned.append(item | {"status": (change.before or {}).get("vendor_status")})
        elif change.action != Action.DEFER:
            report.changes.append(item)
    report.diverged = [d.to_dict() for d in plan.diverged]
    for addr, lm in sorted(live.memberships.items()):
        since = parse_time(lm.since)
        age = now - since if since else None
        kind = problem = None
        if lm.status == FAILED:
            kind, problem = "failed", f"enrollment failed: {lm.reason or lm.vendor_status}"
        elif lm.status == ACTIVE and (stall := stalls.get(lm.vendor_status or "")) and age and age > stall.after:
            kind, problem = stall.kind, f"{stall.text} for {_human(age)}"
        elif lm.status == PAUSED and lm.reason in replied:
            kind, problem = "paused_on_reply", "paused: the contact replied"
        if problem:
            report.health.append({"address": str(addr), "kind": kind, "problem": problem, "status": lm.vendor_status,
                                  "since": lm.since})
    for addr in sorted(live.pending):
        report.health.append({"address": str(addr), "kind": "in_doubt", "status": "unknown", "since": None,
                              "problem": "an earlier write has an unknown outcome; "
                                         "the next plan or apply settles it by reading"})
    ours = set(archived_by_us)
    for addr, lc in sorted(live.cards.items()):
        if lc.managed and lc.archived and str(addr) not in ours:
            report.health.append({"address": str(addr), "kind": "archived_by_person",
                                  "problem": "card archived by a person", "status": "archived", "since": lc.updated_at})
    report.unmanaged = {f"{p}/{pipe}": n for (p, pipe), n in sorted(live.unmanaged_cards.items()) if n}
    return report


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _sections(report: DriftReport) -> list[tuple[str, list[dict[str, Any]], Callable[[dict[str, Any]], str]]]:
    """(title, items, one-line format) of each list drift reports, in reading order."""
    return [("Changes (apply would do these now)", report.changes,
             lambda i: f"{i['action']:<9} {i['address']}  {i['reason'] or ''}"),
            ("Orphaned (removed from the manifest, still active in the vendor)", report.orphaned,
             lambda i: f"{i['address']}  {i['status'] or ''}  {i['reason'] or ''}"),
            ("Health", report.health, lambda i: f"{i['address']}  {i['problem']}"),
            ("Policy violations (found live)", report.policy, lambda i: f"{i['address']}  {i['problem']}"),
            ("Diverged (allowed by policy)", report.diverged,
             lambda i: f"{i['address']}  {i['path']}: live {i['live']!r}, manifest {i['desired']!r} ({i['why']})")]


def _unmanaged_line(report: DriftReport) -> str:
    return "Unmanaged cards (no ownership tag): " + ", ".join(f"{k}: {n}" for k, n in report.unmanaged.items())


def _verdict(report: DriftReport) -> str:
    c = report.counts()
    verdict = "Drift found" if report.drifted else "No drift"
    violations = f", {len(report.policy)} policy violations" if report.policy else ""
    return (f"{verdict}: {c['changes']} changes, {c['orphaned']} orphaned, {c['health']} health{violations}, "
            f"{c['diverged']} diverged (allowed), {c['unmanaged']} unmanaged.")


def render_drift_text(report: DriftReport) -> str:
    out: list[str] = []
    for title, items, fmt in _sections(report):
        if items:
            out.append(f"{title}:")
            out.extend("  " + fmt(i).rstrip() for i in items)
            out.append("")
    if report.unmanaged:
        out += [_unmanaged_line(report), ""]
    out.append(_verdict(report))
    return "\n".join(out) + "\n"


def render_drift_markdown(report: DriftReport, *, budget: int = DEFAULT_BUDGET) -> str:
    """The report for a PR comment or a job summary, under `budget` characters: the counts table and
    the verdict always, then every section's items as far as they fit, "… and N more" where it cuts."""
    c = report.counts()
    page = Page(budget)
    page.add("<!-- campaignctl-drift -->", "### campaignctl drift", "",
             "| changes | orphaned | health | diverged (allowed) | unmanaged |", "|---|---|---|---|---|",
             f"| {c['changes']} | {c['orphaned']} | {c['health']} | {c['diverged']} | {c['unmanaged']} |", "",
             f"**{_verdict(report)}**", "", "```")
    pointer = ["", "**Full report:** `campaignctl drift` (text) or `--format json`"]
    close = ["```"]
    sections = [(title, items, fmt) for title, items, fmt in _sections(report) if items]
    # Each section keeps room for its title and count line, whatever the sections before it take.
    least = [page.cost([f"{title}:", f"  … and {len(items):,} more", ""]) for title, items, _ in sections]
    cut_any = False
    for k, (title, items, fmt) in enumerate(sections):
        reserve = sum(least[k + 1:]) + page.cost([*close, *pointer])
        for i, item in enumerate(items):
            cut = f"  … and {len(items) - i:,} more"
            lines = ([f"{title}:"] if i == 0 else []) + ["  " + fmt(item).rstrip()]
            if not page.offer(lines, reserve + page.cost([cut, ""])):
                page.add(*([f"{title}:"] if i == 0 else []), cut)
                cut_any = True
                break
        page.add("")
    if report.unmanaged:
        page.offer([_unmanaged_line(report)], page.cost([*close, *pointer]))
    page.add(*close)
    if cut_any:
        page.add(*pointer)
    return page.text()


def notify_payload(report: DriftReport, project: str) -> dict[str, Any]:
    """The --notify body: our JSON summary plus a Slack-compatible `text`."""
    c = report.counts()
    if report.drifted:
        violations = f", {len(report.policy)} policy violations" if report.policy else ""
        text = (f"campaignctl drift in {project}: {c['changes']} changes, {c['orphaned']} orphaned, "
                f"{c['health']} health issues{violations}.")
        firsts = (report.changes + report.orphaned + report.health + report.policy)[:5]
        text += "".join(f"\n• {i['address']}: {i.get('problem') or i.get('reason') or i.get('action')}" for i in firsts)
    else:
        text = f"campaignctl drift in {project} cleared: live matches the manifests."
    return {"text": text, "project": project, "drifted": report.drifted, "counts": c,
            "fingerprint": report.fingerprint(), "format_version": FORMAT_VERSION}
