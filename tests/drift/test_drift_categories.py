"""`campaignctl drift` against the served sandbox: every category of docs/drift-json.md, exit codes 0/2/1,
and read-only proven by the sandbox request log (also with in-doubt writes in the journal)."""

from __future__ import annotations

import json

from reconciler.model import Address
from reconciler.state import StateStore

CONTACTS = """\
contacts:
  - {id: ana, first_name: Ana, emails: [ana@example.com]}
  - {id: ben, first_name: Ben, emails: [ben@example.com]}
  - {id: cleo, first_name: Cleo, emails: [cleo@example.com]}
  - {id: eve, first_name: Eve, emails: [eve@example.com]}
  - {id: gus, first_name: Gus, emails: [gus@example.com], phone_numbers: ["+34600000001"]}
  - {id: hal, first_name: Hal, emails: [hal@example.com]}
"""
GARY = """\
sequences:
  - {id: nurture, provider: gary, sequence: "Webinar follow-up", members: [gus]}
"""


def clarky(es: str, en: str) -> str:
    return f"""\
sequences:
  - {{id: es, provider: clarky, template: tpl_01HABC, members: [{es}]}}
  - {{id: en, provider: clarky, template: tpl_01HNUR, members: [{en}]}}
pipelines:
  - id: sales
    provider: clarky
    pipeline: Sales Pipeline
    stage_policy: initial
    cards:
      - {{contact: ana, stage: Lead, title: Ana card}}
      - {{contact: ben, stage: Qualified, title: Ben card}}
"""


def card_id(served, title: str) -> str:
    return next(c["id"] for c in served.hub.store.collection("clarky.cards").values() if c.get("title") == title)


def test_every_category_exit_2_and_no_write_of_any_kind(served):
    root = served.write({"contacts.yaml": CONTACTS, "gary.yaml": GARY, "clarky.yaml": clarky("ana, cleo", "ben, eve")})
    clarky_sim = served.hub.simulators["clarky"]
    # Enrollments made 24.5 h ago (Gary's webinar ladder lasts 48 h, so it is still running) (pending approval ever since), cards and the Gary enrollment too ...
    served.advance(-24.5 * 3600)
    done = served.run("apply", str(root), "--auto-approve", "--target", "clarky.membership[es]*",
                      "--target", "clarky.card*", "--target", "gary.*")
    assert done.code == 0, done.stdout + done.stderr
    # ... and two made 20 minutes ago whose generation never finishes.
    served.advance(24.5 * 3600 - 20 * 60)
    clarky_sim.config["stall_generation"] = True
    done = served.run("apply", str(root), "--auto-approve", "--target", "clarky.membership?en?*")
    assert done.code == 0, done.stdout + done.stderr
    clarky_sim.config["stall_generation"] = False
    served.advance(20 * 60)

    # What people and contacts do outside the manifests.
    served.event("clarky", "fail", contact="cleo@example.com", reason="generation_failed")
    served.event("garyclub", "reply", contact="gus@example.com")
    served.event("clarky", "move_card", card_id=card_id(served, "Ana card"), stage="Qualified")
    served.event("clarky", "archive_card", card_id=card_id(served, "Ben card"))
    # eve leaves the manifest while still active; hal joins, and a crashed apply left hal's start in doubt.
    served.write({"clarky.yaml": clarky("ana, cleo, hal", "ben")})
    store = StateStore(root / ".campaignctl" / "state.db")
    store.intent("crashed-apply", Address("clarky", "membership", "es", "hal"), "enroll")
    store.close()

    before, logged = served.writes(), len(served.hub.store.requests())
    result = served.run("drift", str(root), "--format", "json")
    assert result.code == 2, result.stderr
    report = json.loads(result.stdout)
    health = {(h["address"], h["kind"]) for h in report["health"]}
    assert health == {
        ("clarky.membership[es][ana]", "pending_approval"),
        ("clarky.membership[es][cleo]", "failed"),
        ("clarky.membership[es][hal]", "in_doubt"),
        ("clarky.membership[en][ben]", "stuck_generating"),
        ("clarky.membership[en][eve]", "stuck_generating"),
        ("gary.membership[nurture][gus]", "paused_on_reply"),
        ("clarky.card[sales][ben]", "archived_by_person"),
    }
    problems = {h["address"]: h["problem"] for h in report["health"]}
    assert problems["clarky.membership[en][ben]"].startswith("stuck in generating for 2")
    assert problems["clarky.membership[es][ana]"] == "pending approval for 24 h"
    assert problems["clarky.membership[es][cleo]"] == "enrollment failed: generation_failed"
    assert [o["address"] for o in report["orphaned"]] == ["clarky.membership[en][eve]"]
    assert [(d["address"], d["path"], d["live"], d["desired"]) for d in report["diverged"]] == [
        ("clarky.card[sales][ana]", "stage", "Qualified", "Lead")]
    changes = {(c["address"], c["action"]) for c in report["changes"]}
    assert changes == {("clarky.membership[es][cleo]", "retry"), ("clarky.card[sales][ben]", "unarchive")}
    assert report["unmanaged"] == {"clarky/sales": 1}  # the seed's hand-made card pc_01HCRD
    assert report["drifted"] is True and report["fingerprint"].startswith("sha256:")

    text = served.run("drift", str(root))
    assert text.code == 2
    assert "Orphaned (removed from the manifest, still active in the vendor):" in text.stdout
    assert "Drift found: 2 changes, 1 orphaned, 7 health, 1 diverged (allowed), 1 unmanaged." in text.stdout
    markdown = served.run("drift", str(root), "--format", "markdown")
    assert markdown.code == 2 and markdown.stdout.startswith("<!-- campaignctl-drift -->")

    # Read-only: not one write request of any kind, even with an in-doubt start in the journal
    # (a plan would settle it by replaying the keyed start; drift must not).
    assert served.writes() == before
    during = served.hub.store.requests()[logged:]
    assert len(during) >= 3 and {r["method"] for r in during} == {"GET"}


def test_exit_0_when_in_sync_and_1_on_errors(served):
    root = served.write({"contacts.yaml": CONTACTS, "gary.yaml": GARY})
    assert served.run("apply", str(root), "--auto-approve").code == 0
    clean = served.run("drift", str(root))
    assert clean.code == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip() == "No drift: 0 changes, 0 orphaned, 0 health, 0 diverged (allowed), 0 unmanaged."

    served.write({"gary.yaml": GARY.replace("[gus]", "[nobody]")})
    broken = served.run("drift", str(root))
    assert broken.code == 1 and "unknown contact 'nobody'" in broken.stderr

    served.write({"gary.yaml": GARY})
    served.env["GARY_API_KEY"] = "gc_live_sandbox_revoked"
    refused = served.run("drift", str(root))
    assert refused.code == 1
    assert refused.stderr.startswith("error: ") and "401" in refused.stderr
    assert "gc_live_sandbox_revoked" not in refused.stderr + refused.stdout
